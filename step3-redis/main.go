// Command step3-redis is step 2 plus Redis Pub/Sub: every instance publishes
// its clients' messages to one Redis channel and delivers to its clients
// only what arrives on its subscription, so clients on any instance see
// every message exactly once, the sender included.
//
// Run two instances from the repository root, in two terminals, and open a
// tab on each port:
//
//	go run ./step3-redis 3459
//	go run ./step3-redis 3460
//
// REDIS_URL picks the Redis (default redis://localhost:6379). With no Redis
// there, the first instance starts an embedded one (see broker.go).
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
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
	// maxMessageSize is the largest frame a client may send. A chat line is
	// short, and without a limit one client could make us buffer megabytes.
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
	// defaultRedisAddr is where we look for Redis when REDIS_URL is unset:
	// Redis's own default, which is also where the embedded one starts.
	defaultRedisAddr = "localhost:6379"

	// chatChannel is the one Redis channel every instance publishes to and
	// subscribes to: that shared name is all the instances need to agree on.
	chatChannel = "chat"

	// publishTimeout bounds one PUBLISH, so a client whose message cannot
	// reach Redis hears about it within seconds instead of waiting forever.
	publishTimeout = 3 * time.Second

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

// notSent is what a client hears when its message could not be published.
var notSent = []byte("[server] Your last message was not sent: Redis is unavailable. Try again in a moment.")

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
		fmt.Fprintf(os.Stderr, "usage: step3-redis [port]: %v\n", err)
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
		fmt.Fprintf(os.Stderr, "step3-redis: %v\n", err)
		os.Exit(2)
	}

	h := newHub(rdb)
	// One subscription for the whole process, however many clients: Redis
	// sends each message to this instance once, and the hub fans it out.
	ps := rdb.Subscribe(ctx, chatChannel)
	relayDone := make(chan struct{})
	go func() {
		h.relay(ps)
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

// hub is the set of this instance's clients, and its link to Redis. A mutex
// guards the set because every connection's goroutine uses it concurrently.
type hub struct {
	rdb *redis.Client
	// conns counts running connections, so shutdown can wait for them.
	conns sync.WaitGroup

	mu         sync.Mutex
	clients    map[*client]bool
	closing    bool // shutdown has begun: no new clients
	subscribed bool // Redis has confirmed our subscription (tests wait for it)
}

func newHub(rdb *redis.Client) *hub {
	return &hub{rdb: rdb, clients: make(map[*client]bool)}
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

// errNotSubscribed refuses a message while our subscription is down.
var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed our subscription")

// publish sends msg to every instance, this one included, through Redis.
func (h *hub) publish(msg []byte) error {
	// Until Redis confirms our subscription (at start, or after an outage),
	// a message we publish would not come back to our own clients, and Redis
	// keeps nothing for later: better to refuse it than to lose it silently.
	if !h.isSubscribed() {
		return errNotSubscribed
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	return h.rdb.Publish(ctx, chatChannel, msg).Err()
}

// relay delivers what arrives on the subscription to this instance's
// clients, until ps is closed. go-redis reconnects and subscribes again by
// itself after an error; relay only has to keep asking and say what happens.
//
// Pub/Sub is at-most-once: Redis keeps nothing for a subscriber that is not
// connected, so messages published while we are cut off are lost to our
// clients. (Redis Streams keep history when that matters; see tutorial.md.)
func (h *hub) relay(ps *redis.PubSub) {
	delay := 100 * time.Millisecond
	for {
		// Subscribe did not wait for Redis: its answer arrives here, as a
		// *redis.Subscription, before any message does. Until it has come,
		// wait at most confirmWait, then ask again. (Once subscribed, wait
		// without a deadline: one that struck mid-message would garble it.)
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = confirmWait
		}
		msg, err := ps.ReceiveTimeout(context.Background(), wait)
		if errors.Is(err, redis.ErrClosed) {
			return
		}
		if netErr := net.Error(nil); errors.As(err, &netErr) && netErr.Timeout() {
			ps.Subscribe(context.Background(), chatChannel)
			continue
		}
		if err != nil {
			if h.setSubscribed(false) && !h.isClosing() {
				log.Printf("lost the Redis subscription (%v); retrying until Redis is back", err)
			}
			time.Sleep(delay)
			delay = min(2*delay, maxRetryDelay)
			continue
		}
		delay = 100 * time.Millisecond
		switch msg := msg.(type) {
		case *redis.Subscription:
			if msg.Kind == "subscribe" && !h.setSubscribed(true) {
				log.Printf("subscribed to Redis channel %q: Redis confirmed", msg.Channel)
			}
		case *redis.Message:
			h.broadcast([]byte(msg.Payload))
		}
	}
}

// setSubscribed records whether Redis has confirmed our subscription, and
// reports whether that was already so.
func (h *hub) setSubscribed(on bool) (was bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was, h.subscribed = h.subscribed, on
	return was
}

func (h *hub) isSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribed
}

func (h *hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// broadcast queues msg for every client. It never waits on a client: one
// whose queue is full is disconnected instead of slowing the others.
func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		h.sendLocked(c, msg)
	}
}

// send queues msg for one client, on the same terms as broadcast.
func (h *hub) send(c *client, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendLocked(c, msg)
}

func (h *hub) sendLocked(c *client, msg []byte) {
	if !c.push(msg) {
		h.removeLocked(c, websocket.FormatCloseMessage(
			websocket.ClosePolicyViolation, "too slow: message queue full"))
	}
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
	// wake tells a waiting writePump that there is something to do. It
	// holds one token, so waking a writer that is already awake costs nothing.
	wake chan struct{}
	// stopped is closed by the last writePump, once it has closed the
	// connection, so that shutdown can wait for it.
	stopped chan struct{}

	mu       sync.Mutex
	queue    [][]byte // messages waiting for writePump
	writing  bool     // a writePump is running (never more than one)
	done     bool     // the hub removed the client: no more messages
	closeMsg []byte   // the close frame to send when done, or nil for none
}

func newClient(conn *websocket.Conn) *client {
	return &client{conn: conn, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
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
	c.signal()
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

// take empties the queue for writePump.
func (c *client) take() (msgs [][]byte, done bool, closeMsg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, c.queue = c.queue, nil
	return msgs, c.done, c.closeMsg
}

// retire ends writePump's turn, unless something came in at the last
// moment: then it reports false, and writePump carries on. Deciding under
// c.mu means that every signal either finds this writer or starts a new one.
func (c *client) retire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 || c.done {
		return false
	}
	c.writing = false
	return true
}

// serveWS upgrades the request and starts the connection's reader; its
// writer starts whenever there is something to send. serveWS returns at
// once: the request's goroutine, its stack and the request itself would
// otherwise stay alive as long as the connection, about 10 KB for every
// idle client.
func serveWS(h *hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error.
	}
	c := newClient(conn)
	if !h.add(c) {
		conn.WriteControl(websocket.CloseMessage, shuttingDown, time.Now().Add(writeWait))
		conn.Close()
		return
	}
	go func() {
		defer h.conns.Done()
		c.readPump(h)
		<-c.stopped
	}()
}

// readPump reads messages until the connection fails or closes, and
// publishes each one.
func (c *client) readPump(h *hub) {
	// Whatever ends the loop, the client leaves the hub, and a last
	// writePump closes the connection.
	var closeMsg []byte
	defer func() { h.remove(c, closeMsg) }()

	c.conn.SetReadLimit(maxMessageSize)
	for {
		kind, msg, err := c.conn.ReadMessage()
		if err != nil {
			// A client that leaves, a dropped network, a frame over the
			// limit (gorilla has already sent 1009): all end here.
			return
		}
		if kind != websocket.TextMessage {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames are not supported")
			return
		}
		// Gorilla does not check that text is UTF-8, but a browser that
		// receives invalid UTF-8 drops its connection: refuse it here.
		if !utf8.Valid(msg) {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text must be UTF-8")
			return
		}
		// A newline separates messages in a frame, so one inside a message
		// becomes a space; a message with nothing to show is not sent.
		msg = bytes.TrimSpace(bytes.ReplaceAll(msg, newline, []byte{' '}))
		if len(msg) == 0 {
			continue
		}
		// Not straight to the hub any more: through Redis, which hands it
		// back to every instance's relay, this one's included.
		if err := h.publish(msg); err != nil {
			log.Printf("publish failed: %v", err)
			h.send(c, notSent)
		}
	}
}

// writePump is the only goroutine that writes to the connection. It sends
// what is queued and ends once it has had nothing to send for
// writerLinger; when the hub has let go of the client, it sends the close
// frame and hangs up instead.
func (c *client) writePump() {
	idle := time.NewTimer(writerLinger)
	defer idle.Stop()
	for {
		msgs, done, closeMsg := c.take()
		if len(msgs) > 0 && c.write(msgs) != nil {
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
		if len(msgs) > 0 {
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
