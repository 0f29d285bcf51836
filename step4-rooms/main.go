// Command step4-rooms is step 3 plus rooms: each room is its own Redis
// channel, an instance subscribes to a room only while one of its clients
// is in it, announcements reach everyone, and heartbeats notice clients
// that have gone silent.
//
// Run two instances from the repository root, in two terminals, and open a
// tab on each port:
//
//	go run ./step4-rooms 3459
//	go run ./step4-rooms 3460
//
// The wire protocol: JSON text frames.
//
//	client → server
//	  {"type":"join","room":"R"}
//	  {"type":"leave","room":"R"}
//	  {"type":"message","room":"R","text":"..."}
//	server → client
//	  {"type":"joined","room":"R"}           once Redis has confirmed the room's subscription
//	  {"type":"left","room":"R"}
//	  {"type":"message","room":"R","user":"U","text":"...","ts":<unix ms>,"id":"<unique>"}
//	  {"type":"announcement","text":"..."}  whatever anyone publishes on Redis channel "broadcast"
//	  {"type":"error","error":"<reason>"}   the request was refused; the connection stays usable
//
// A server frame may carry several of these, one JSON object per line, when
// messages queue up for a client. The user name comes from the connection,
// /ws?name=U (1 to 32 letters, digits, _ or -; none: a guest name), and the
// server stamps it on every message, so nobody can speak as someone else.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// defaultPort is the port the guides use; the second instance uses 3460.
const defaultPort = 3459

// listenHost keeps the server on this machine: a workshop laptop should not
// offer its chat to the whole café Wi-Fi. Use "" to listen on every interface.
const listenHost = "localhost"

const (
	// maxMessageSize is the largest frame a client may send: room for the
	// longest text, even with every character escaped, and its envelope.
	// A larger frame closes the connection with 1009 (message too big).
	maxMessageSize = 4096

	// sendQueueSize is how many messages may wait for one client: enough
	// for a burst from a busy room while the client's writer waits its turn.
	// A client that falls this far behind is disconnected, so it cannot
	// slow everybody else down.
	sendQueueSize = 256

	// writeWait bounds a single write. A client whose network has stalled
	// this long is treated as gone, and its writer goroutine ends.
	writeWait = 10 * time.Second

	// writerLinger is how long a writer with nothing to send waits for more
	// before it ends. In a busy chat the next message comes sooner, so one
	// writer keeps running; a client whose chat has gone quiet costs none.
	writerLinger = time.Second
)

const (
	// pongWait is how long a client may stay silent before it counts as
	// gone: a laptop that went to sleep, a tab that died without a goodbye.
	pongWait = 60 * time.Second

	// pingPeriod must be shorter than pongWait, so that a live client's
	// pong arrives before the deadline; nine tenths leaves time for the trip.
	pingPeriod = pongWait * 9 / 10
)

const (
	// maxTextLength is the longest chat message, in characters.
	maxTextLength = 500

	// maxRoomsPerClient stops one connection from making this instance
	// subscribe to any number of Redis channels.
	maxRoomsPerClient = 10

	// maxRoomLength and maxNameLength keep names readable and bounded;
	// both allow letters, digits, '_' and '-' only.
	maxRoomLength = 64
	maxNameLength = 32
)

const (
	// defaultRedisAddr is where we look for Redis when REDIS_URL is unset:
	// Redis's own default, which is also where the embedded one starts.
	defaultRedisAddr = "localhost:6379"

	// roomPrefix makes a room's Redis channel: room "lobby" is "room:lobby".
	roomPrefix = "room:"

	// broadcastChannel carries announcements to every client everywhere:
	//	redis-cli PUBLISH broadcast "break in 5 minutes"
	broadcastChannel = "broadcast"

	// publishTimeout bounds one PUBLISH, so a client whose message cannot
	// reach Redis hears about it within seconds instead of waiting forever.
	publishTimeout = 3 * time.Second

	// subscribeTimeout bounds one SUBSCRIBE or UNSUBSCRIBE command. Redis
	// answers on the subscription, not here; if the command cannot be sent,
	// go-redis sends it again when it reconnects.
	subscribeTimeout = 3 * time.Second

	// maxRetryDelay caps the wait between attempts to reach a Redis that is
	// down: short enough to notice it is back quickly, long enough not to
	// spin while it is gone.
	maxRetryDelay = 2 * time.Second

	// confirmWait is how long relay waits for Redis to confirm a SUBSCRIBE
	// before it sends it again. Rarely, after Redis comes back, go-redis's
	// own SUBSCRIBE on the new connection never reaches it; asking again is
	// harmless, since Redis ignores a SUBSCRIBE to a channel we already have.
	confirmWait = 3 * time.Second

	// shutdownTimeout bounds a graceful shutdown: clients get this long to
	// receive their close frame before the process exits anyway.
	shutdownTimeout = 5 * time.Second
)

// shuttingDown is the close frame every client gets when the server stops.
var shuttingDown = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")

// newline separates messages that share one frame (see client.write).
var newline = []byte{'\n'}

// The page is compiled into the binary, so `go run` works from any directory.
//
//go:embed index.html
var indexHTML []byte

// upgrader turns an HTTP request into a WebSocket connection.
var upgrader = websocket.Upgrader{
	// A small read buffer: it stays allocated for as long as the connection
	// is open, and chat messages are short. Longer frames just take more reads.
	ReadBufferSize: 256,
	// With a pool, a connection holds a write buffer only while it writes,
	// so thousands of idle connections cost no write buffers at all.
	WriteBufferPool: &sync.Pool{},
	// CheckOrigin is left nil on purpose: gorilla's default then refuses a
	// browser whose page came from another host (the Origin header), so no
	// other web site can open a chat connection with a visitor's cookies.
	// Never replace it with a function that returns true.
}

func main() {
	port, err := parsePort(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "usage: step4-rooms [port]: %v\n", err)
		os.Exit(2)
	}

	// go-redis logs every failed dial, several times a second while Redis
	// is down; relay and publish report an outage in our own words instead.
	redis.SetLogger(quietLogger{})

	// Ctrl-C (SIGINT) or SIGTERM cancels ctx and starts the shutdown below.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rdb, broker, err := connectRedis(ctx, os.Getenv("REDIS_URL"), defaultRedisAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "step4-rooms: %v\n", err)
		os.Exit(2)
	}

	// Still one subscription for the whole process. It starts with the
	// broadcast channel; rooms come and go on it as clients join and leave.
	ps := rdb.Subscribe(ctx, broadcastChannel)
	h := newHub(rdb, ps)
	relayDone := make(chan struct{})
	go func() {
		h.relay()
		close(relayDone)
	}()

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	srv := &http.Server{Addr: addr, Handler: newMux(h)}
	go func() {
		log.Printf("listening on http://%s", addr)
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	<-ctx.Done()
	log.Print("shutting down")
	broker.stopWatching()
	// Stop accepting; then say goodbye (1001) to every client and wait for
	// their goroutines; then the subscription and Redis; the broker last,
	// because the other instances may still be using it until this moment.
	// Close, not Shutdown: the WebSockets left the HTTP server when they
	// were upgraded, and Shutdown would wait up to 5 seconds for a
	// connection that a browser opened ahead of need and never used.
	srv.Close()
	timeout, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	h.closeAll(timeout)
	ps.Close()
	<-relayDone
	rdb.Close()
	broker.close()
}

// quietLogger discards go-redis's own log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// parsePort reads the optional port argument: none means defaultPort.
func parsePort(args []string) (int, error) {
	if len(args) == 0 {
		return defaultPort, nil
	}
	if len(args) > 1 {
		return 0, errors.New("expected at most one argument, the port")
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port must be a number from 1 to 65535, got %q", args[0])
	}
	return port, nil
}

// newMux routes the requests: the page at "/" and the WebSocket at "/ws".
func newMux(h *hub) *http.ServeMux {
	mux := http.NewServeMux()
	// "GET /{$}" matches exactly "/" (and HEAD); every other path is a 404.
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		serveWS(h, w, r)
	})
	return mux
}

func serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(indexHTML)
}

// request is what a client sends.
type request struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// event is what the server sends; empty fields are left out.
type event struct {
	Type  string `json:"type"`
	Room  string `json:"room,omitempty"`
	User  string `json:"user,omitempty"`
	Text  string `json:"text,omitempty"`
	TS    int64  `json:"ts,omitempty"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

// encode renders e as one line of JSON. json.Marshal escapes newlines in
// strings, so a line is always exactly one event.
func (e event) encode() []byte {
	b, _ := json.Marshal(e) // cannot fail: only strings and a number
	return b
}

// parseRequest decodes and checks one frame from a client. Anything it
// returns without an error is safe to act on; the error is the reason a
// client reads in its error event.
func parseRequest(data []byte) (request, error) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		return req, errors.New("invalid JSON")
	}
	switch req.Type {
	case "join", "leave", "message":
	default:
		return req, fmt.Errorf("unknown type %q", req.Type)
	}
	if !validName(req.Room, maxRoomLength) {
		return req, fmt.Errorf("invalid room name: use 1 to %d letters, digits, _ or -", maxRoomLength)
	}
	if req.Type == "message" {
		req.Text = strings.TrimSpace(req.Text)
		if req.Text == "" {
			return req, errors.New("empty text")
		}
		if utf8.RuneCountInString(req.Text) > maxTextLength {
			return req, fmt.Errorf("text longer than %d characters", maxTextLength)
		}
	}
	return req, nil
}

// validName reports whether s is 1 to max letters, digits, '_' or '-'.
func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// randomHex returns n random bytes as hex: guest names and message IDs.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// hub is this instance's clients and rooms, and its link to Redis.
type hub struct {
	rdb *redis.Client
	ps  *redis.PubSub
	// conns counts running connections, so shutdown can wait for them.
	conns sync.WaitGroup
	// pingPeriod and pongWait are the heartbeat; tests shorten them.
	pingPeriod, pongWait time.Duration
	// idPrefix and lastID make message IDs unique across instances.
	idPrefix string
	lastID   atomic.Uint64

	// subMu puts joins and leaves in one line, so that SUBSCRIBE and
	// UNSUBSCRIBE reach Redis in the order the hub decided on them. It is
	// held while talking to Redis; mu never is.
	subMu sync.Mutex

	mu         sync.Mutex
	clients    map[*client]bool
	rooms      map[string]*room // rooms with a member on this instance
	pending    map[string]int   // per channel: (UN)SUBSCRIBEs sent, not yet answered
	closing    bool             // shutdown has begun: no new clients
	subscribed bool             // Redis has confirmed the broadcast channel (tests wait for it)
}

// room is one room's members on this instance.
type room struct {
	members map[*client]bool
	// confirmed: Redis has answered our SUBSCRIBE for the room's channel,
	// so messages published to it from now on reach us.
	confirmed bool
}

func newHub(rdb *redis.Client, ps *redis.PubSub) *hub {
	return &hub{
		rdb:        rdb,
		ps:         ps,
		pingPeriod: pingPeriod,
		pongWait:   pongWait,
		idPrefix:   randomHex(4),
		clients:    make(map[*client]bool),
		rooms:      make(map[string]*room),
		pending:    make(map[string]int),
	}
}

// add registers c; it reports false once shutdown has begun. A client
// that was added must call h.conns.Done when its connection has ended.
func (h *hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	// Under the lock, so no Add can slip in after closeAll starts waiting.
	h.conns.Add(1)
	h.clients[c] = true
	return true
}

// remove forgets c and tells its writer to send closeMsg (nil: none) and
// end. It is safe to call more than once: only the first call counts.
// The rooms let go of c when its reader ends (see leaveAll).
func (h *hub) remove(c *client, closeMsg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c, closeMsg)
}

func (h *hub) removeLocked(c *client, closeMsg []byte) {
	if !h.clients[c] {
		return
	}
	delete(h.clients, c)
	c.finish(closeMsg)
}

// join puts c in the room. The first member on this instance makes it
// subscribe to the room's channel; c gets "joined" once Redis confirms.
func (h *hub) join(c *client, name string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	if acked, in := c.rooms[name]; in {
		if acked {
			h.sendLocked(c, event{Type: "joined", Room: name}.encode())
		}
		h.mu.Unlock()
		return // already in, or on the way in
	}
	if len(c.rooms) >= maxRoomsPerClient {
		h.sendLocked(c, errorEvent(fmt.Sprintf("too many rooms: at most %d at once", maxRoomsPerClient)))
		h.mu.Unlock()
		return
	}
	r := h.rooms[name]
	subscribe := r == nil
	if subscribe {
		r = &room{members: make(map[*client]bool)}
		h.rooms[name] = r
		h.pending[roomPrefix+name]++
	}
	r.members[c] = true
	c.rooms[name] = r.confirmed
	if r.confirmed {
		h.sendLocked(c, event{Type: "joined", Room: name}.encode())
	}
	h.mu.Unlock()

	if subscribe {
		h.changeSubscription(h.ps.Subscribe, roomPrefix+name)
	}
}

// leave takes c out of the room; the last member out makes this instance
// unsubscribe from the room's channel.
func (h *hub) leave(c *client, name string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	if _, in := c.rooms[name]; !in {
		h.sendLocked(c, errorEvent(fmt.Sprintf("not in room %q", name)))
		h.mu.Unlock()
		return
	}
	emptied := h.leaveLocked(c, name)
	h.sendLocked(c, event{Type: "left", Room: name}.encode())
	h.mu.Unlock()

	if emptied != "" {
		h.changeSubscription(h.ps.Unsubscribe, emptied)
	}
}

// leaveAll takes a departing client out of all its rooms.
func (h *hub) leaveAll(c *client) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	var emptied []string
	for name := range c.rooms {
		if ch := h.leaveLocked(c, name); ch != "" {
			emptied = append(emptied, ch)
		}
	}
	h.mu.Unlock()

	for _, ch := range emptied {
		h.changeSubscription(h.ps.Unsubscribe, ch)
	}
}

// leaveLocked removes c from the room. If that empties the room, it
// returns the channel to unsubscribe from; otherwise "".
func (h *hub) leaveLocked(c *client, name string) string {
	delete(c.rooms, name)
	r := h.rooms[name]
	delete(r.members, c)
	if len(r.members) > 0 {
		return ""
	}
	delete(h.rooms, name)
	h.pending[roomPrefix+name]++
	return roomPrefix + name
}

// changeSubscription sends a SUBSCRIBE or UNSUBSCRIBE for channel. Redis
// answers on the subscription, and relay counts the answers in h.pending.
// If the command could not be sent, no answer will come for it; go-redis
// sends what is still wanted again when it reconnects.
func (h *hub) changeSubscription(command func(context.Context, ...string) error, channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if err := command(ctx, channel); err != nil {
		h.mu.Lock()
		if h.pending[channel] > 0 {
			h.pending[channel]--
		}
		h.mu.Unlock()
	}
}

// errNotSubscribed refuses a message while the room's subscription is down.
var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed the room's subscription")

// publish sends a client's message to its room on every instance.
func (h *hub) publish(c *client, req request) error {
	// Until Redis confirms the room's subscription again after an outage, a
	// message we publish would not come back to our own clients, and Redis
	// keeps nothing for later: better to refuse it than to lose it silently.
	if !h.roomConfirmed(req.Room) {
		return errNotSubscribed
	}
	msg := event{
		Type: "message",
		Room: req.Room,
		User: c.name, // from the connection, never from the request
		Text: req.Text,
		TS:   time.Now().UnixMilli(),
		ID:   h.idPrefix + "-" + strconv.FormatUint(h.lastID.Add(1), 10),
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	return h.rdb.Publish(ctx, roomPrefix+req.Room, msg.encode()).Err()
}

// relay delivers what arrives on the subscription to this instance's
// clients, until the subscription is closed. go-redis reconnects and
// subscribes again by itself after an error; relay keeps asking, routes
// each message by its channel, and hands out "joined" when Redis confirms.
//
// Pub/Sub is at-most-once: Redis keeps nothing for a subscriber that is not
// connected, so messages published while we are cut off are lost to our
// clients. (Redis Streams keep history when that matters; see tutorial.md.)
func (h *hub) relay() {
	delay := 100 * time.Millisecond
	for {
		// Until Redis has confirmed the broadcast channel (at start, after
		// an outage), wait at most confirmWait, then ask again for every
		// channel we want. (Once subscribed, wait without a deadline: one
		// that struck mid-message would garble it.)
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = confirmWait
		}
		msg, err := h.ps.ReceiveTimeout(context.Background(), wait)
		if errors.Is(err, redis.ErrClosed) {
			return
		}
		if netErr := net.Error(nil); errors.As(err, &netErr) && netErr.Timeout() {
			h.ps.Subscribe(context.Background(), h.wantedChannels()...)
			continue
		}
		if err != nil {
			if h.lostSubscription() {
				log.Printf("lost the Redis subscription (%v); retrying until Redis is back", err)
			}
			time.Sleep(delay)
			delay = min(2*delay, maxRetryDelay)
			continue
		}
		delay = 100 * time.Millisecond
		switch msg := msg.(type) {
		case *redis.Subscription:
			h.answered(msg)
		case *redis.Message:
			if msg.Channel == broadcastChannel {
				h.announce(msg.Payload)
			} else if name, ok := strings.CutPrefix(msg.Channel, roomPrefix); ok {
				h.deliver(name, msg.Payload)
			}
		}
	}
}

// answered handles Redis's answer to a SUBSCRIBE or UNSUBSCRIBE.
func (h *hub) answered(s *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending[s.Channel] > 0 {
		h.pending[s.Channel]--
	}
	// Only the answer to the latest command tells how things stand: after
	// join, leave, join, the first "subscribe" is followed by "unsubscribe".
	if h.pending[s.Channel] > 0 || s.Kind != "subscribe" {
		return
	}
	if s.Channel == broadcastChannel {
		if !h.subscribed {
			log.Printf("subscribed to Redis channel %q: Redis confirmed", s.Channel)
		}
		h.subscribed = true
		return
	}
	name, _ := strings.CutPrefix(s.Channel, roomPrefix)
	r := h.rooms[name]
	if r == nil || r.confirmed {
		return
	}
	r.confirmed = true
	joined := event{Type: "joined", Room: name}.encode()
	for c := range r.members {
		if !c.rooms[name] {
			c.rooms[name] = true
			h.sendLocked(c, joined)
		}
	}
}

// lostSubscription records that the subscription broke, and reports
// whether that is news worth logging. Every room must be confirmed again:
// go-redis subscribes anew, and Redis answers anew, when it reconnects.
func (h *hub) lostSubscription() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.pending)
	for _, r := range h.rooms {
		r.confirmed = false
	}
	was := h.subscribed
	h.subscribed = false
	return was && !h.closing
}

// wantedChannels is every channel this instance needs: broadcast and its rooms.
func (h *hub) wantedChannels() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	channels := []string{broadcastChannel}
	for name := range h.rooms {
		channels = append(channels, roomPrefix+name)
	}
	return channels
}

func (h *hub) isSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribed
}

// deliver hands a room's message to the room's members on this instance.
func (h *hub) deliver(name, payload string) {
	// Anyone with access to Redis can publish to a room's channel: pass on
	// only one line of valid JSON, which is what our instances publish.
	if !json.Valid([]byte(payload)) || strings.Contains(payload, "\n") {
		log.Printf("dropped a malformed message on %s%s", roomPrefix, name)
		return
	}
	msg := []byte(payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[name]; r != nil {
		for c := range r.members {
			h.sendLocked(c, msg)
		}
	}
}

// announce hands an announcement to every client on this instance.
func (h *hub) announce(text string) {
	msg := event{Type: "announcement", Text: text}.encode()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		h.sendLocked(c, msg)
	}
}

// send queues msg for one client, on the same terms as deliver.
func (h *hub) send(c *client, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendLocked(c, msg)
}

// sendLocked queues msg for c. It never waits on a client: one whose queue
// is full is disconnected instead of slowing the others.
func (h *hub) sendLocked(c *client, msg []byte) {
	if !c.push(msg) {
		h.removeLocked(c, websocket.FormatCloseMessage(
			websocket.ClosePolicyViolation, "too slow: message queue full"))
	}
}

func errorEvent(reason string) []byte {
	return event{Type: "error", Error: reason}.encode()
}

// closeAll says goodbye (1001) to every client and waits, until ctx ends,
// for their connections to finish.
func (h *hub) closeAll(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	for c := range h.clients {
		h.removeLocked(c, shuttingDown)
	}
	h.mu.Unlock()

	done := make(chan struct{})
	go func() {
		h.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// count is the number of connected clients (tests use it).
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// client is one WebSocket connection. Gorilla allows one reader and one
// writer at a time, so readPump is the only reader and writePump the only
// writer: everybody else leaves messages in the client's queue.
//
// The queue is a slice, not a buffered channel: a channel's buffer is
// allocated up front for every client, busy or idle, while a slice grows
// only while messages wait, and writePump takes all of them at once.
//
// writePump runs only while the client has something to receive: push
// starts it, and it ends once it has had nothing to send for writerLinger.
// An idle client then costs one goroutine instead of two, about 2.5 KB
// less for every idle connection.
type client struct {
	conn *websocket.Conn
	name string
	// rooms maps each room the client is in to whether it has been told
	// "joined" yet. The hub's mu guards it.
	rooms map[string]bool
	// wake tells a waiting writePump that there is something to do. It
	// holds one token, so waking a writer that is already awake costs nothing.
	wake chan struct{}
	// stopped is closed by the last writePump, once it has closed the
	// connection, so that shutdown can wait for it.
	stopped chan struct{}

	mu        sync.Mutex
	queue     [][]byte    // messages waiting for writePump
	pingDue   bool        // the heartbeat wants a ping sent
	heartbeat *time.Timer // calls ping every pingPeriod
	writing   bool        // a writePump is running (never more than one)
	done      bool        // the hub removed the client: no more messages
	closeMsg  []byte      // the close frame to send when done, or nil for none
}

func newClient(conn *websocket.Conn, name string) *client {
	return &client{conn: conn, name: name, rooms: make(map[string]bool), wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// push queues msg for writePump; it reports false if the queue is full.
func (c *client) push(msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return true // on its way out: nothing more to send
	}
	if len(c.queue) >= sendQueueSize {
		return false
	}
	c.queue = append(c.queue, msg)
	c.signal()
	return true
}

// finish tells writePump to send what is queued, then closeMsg, and end.
func (c *client) finish(closeMsg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done, c.closeMsg = true, closeMsg
	if c.heartbeat != nil {
		c.heartbeat.Stop()
	}
	c.signal()
}

// startHeartbeat has ping run every period. A timer, not a goroutine
// that sleeps: it costs no goroutine while it waits.
func (c *client) startHeartbeat(period time.Duration) {
	c.mu.Lock() // ping takes c.mu too, so it cannot run before heartbeat is set
	defer c.mu.Unlock()
	if c.done {
		return // shutdown got to it first
	}
	c.heartbeat = time.AfterFunc(period, func() { c.ping(period) })
}

// ping asks writePump for a ping, like for a message, and sets the timer
// for the next one, period from now.
func (c *client) ping(period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.pingDue = true
	c.signal()
	c.heartbeat.Reset(period)
}

// signal wakes writePump, or starts it if it is not running. The caller
// holds c.mu, so two callers cannot both start one.
func (c *client) signal() {
	if !c.writing {
		c.writing = true
		go c.writePump()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// take empties the queue for writePump, and says whether a ping is due.
func (c *client) take() (msgs [][]byte, ping, done bool, closeMsg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, c.queue = c.queue, nil
	ping, c.pingDue = c.pingDue, false
	return msgs, ping, c.done, c.closeMsg
}

// retire ends writePump's turn, unless something came in at the last
// moment: then it reports false, and writePump carries on. Deciding under
// c.mu means that every signal either finds this writer or starts a new one.
func (c *client) retire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 || c.pingDue || c.done {
		return false
	}
	c.writing = false
	return true
}

// serveWS checks the name, upgrades the request, and starts the
// connection's heartbeat and its reader; its writer starts whenever there
// is something to send. serveWS returns at once: the request's goroutine,
// its stack and the request itself would otherwise stay alive as long as
// the connection, about 10 KB for every idle client.
func serveWS(h *hub, w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "guest-" + randomHex(2)
	}
	if !validName(name, maxNameLength) {
		// Refused before the upgrade, as plain HTTP: the browser's
		// WebSocket API hides the reason, but curl and the logs show it.
		http.Error(w, fmt.Sprintf("invalid name: use 1 to %d letters, digits, _ or -", maxNameLength), http.StatusBadRequest)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error.
	}
	c := newClient(conn, name)
	if !h.add(c) {
		conn.WriteControl(websocket.CloseMessage, shuttingDown, time.Now().Add(writeWait))
		conn.Close()
		return
	}
	c.startHeartbeat(h.pingPeriod)
	go func() {
		defer h.conns.Done()
		c.readPump(h)
		h.leaveAll(c)
		<-c.stopped
	}()
}

// readPump reads requests until the connection fails, closes or goes
// silent, and carries each one out.
func (c *client) readPump(h *hub) {
	// Whatever ends the loop, the client leaves the hub, and a last
	// writePump closes the connection.
	var closeMsg []byte
	defer func() { h.remove(c, closeMsg) }()

	c.conn.SetReadLimit(maxMessageSize)
	// Heartbeat: a client must answer our pings. Each pong moves the
	// deadline on; a client that stays silent past it fails the read below.
	c.conn.SetReadDeadline(time.Now().Add(h.pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(h.pongWait))
	})
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			// A client that leaves, a dropped network, a missed heartbeat,
			// a frame over the limit (gorilla has already sent 1009).
			return
		}
		if kind != websocket.TextMessage {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames are not supported")
			return
		}
		// Gorilla does not check that text is UTF-8, but a browser that
		// receives invalid UTF-8 drops its connection: refuse it here.
		if !utf8.Valid(data) {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text must be UTF-8")
			return
		}
		req, err := parseRequest(data)
		if err != nil {
			h.send(c, errorEvent(err.Error()))
			continue
		}
		switch req.Type {
		case "join":
			h.join(c, req.Room)
		case "leave":
			h.leave(c, req.Room)
		case "message":
			if !h.isMember(c, req.Room) {
				h.send(c, errorEvent(fmt.Sprintf("not in room %q: join it first", req.Room)))
			} else if err := h.publish(c, req); err != nil {
				log.Printf("publish failed: %v", err)
				h.send(c, errorEvent("message not sent: Redis is unavailable, try again in a moment"))
			}
		}
	}
}

// isMember reports whether c has joined the room (and been told so).
func (h *hub) isMember(c *client, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return c.rooms[name]
}

// roomConfirmed reports whether Redis has confirmed our subscription to the room.
func (h *hub) roomConfirmed(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	return r != nil && r.confirmed
}

// writePump is the only goroutine that writes to the connection. It sends
// what is queued, and the heartbeat's pings, and ends once it has had
// nothing to send for writerLinger; when the hub has let go of the client,
// it sends the close frame and hangs up instead.
func (c *client) writePump() {
	idle := time.NewTimer(writerLinger)
	defer idle.Stop()
	for {
		msgs, ping, done, closeMsg := c.take()
		var err error
		if ping {
			err = c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
		}
		if err == nil && len(msgs) > 0 {
			err = c.write(msgs)
		}
		if err != nil {
			// The client cannot be reached: hang up without a goodbye.
			// That ends readPump too, which removes the client.
			done, closeMsg = true, nil
		}
		if done {
			// Say why, if there is a reason, and hang up. writing stays
			// true, so no writePump starts again.
			if closeMsg != nil {
				c.conn.WriteControl(websocket.CloseMessage, closeMsg, time.Now().Add(writeWait))
			}
			c.conn.Close()
			close(c.stopped)
			return
		}
		if len(msgs) > 0 || ping {
			continue // more may have come in meanwhile
		}
		// Since Go 1.23, Reset needs no Stop and no draining of idle.C first.
		idle.Reset(writerLinger)
		select {
		case <-c.wake:
		case <-idle.C:
			if c.retire() {
				return // the next signal starts a new writePump
			}
		}
	}
}

// write sends msgs in one frame, one per line: when messages queue up
// under load, that is one system call for all of them instead of one each.
func (c *client) write(msgs [][]byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(writeWait))
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for i, msg := range msgs {
		if i > 0 {
			w.Write(newline)
		}
		w.Write(msg)
	}
	return w.Close()
}
