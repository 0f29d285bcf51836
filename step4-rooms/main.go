// Command step4-rooms is step 3 plus rooms: each room is its own Redis
// channel, which an instance subscribes to only while one of its clients
// is in the room; announcements reach everyone; and heartbeats notice
// clients that have gone silent. Clients speak JSON (see protocol.go).
//
// Run two instances from the repository root, in two terminals, and open a
// tab on each port:
//
//	go run ./step4-rooms 3459
//	go run ./step4-rooms 3460
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// defaultPort is the port the guides use; a second instance can use 3460.
const defaultPort = 3459

// listenHost keeps the server on this machine: a workshop laptop should not
// offer its chat to the whole café Wi-Fi. Use "" to listen on every interface.
const listenHost = "localhost"

const (
	// maxMessageSize is the largest frame a client may send (1009 beyond): room
	// for the longest text with each emoji escaped, \uXXXX\uXXXX, 12 bytes.
	maxMessageSize = 8192

	// maxQueued is how many bytes may wait for one client's writer: far more
	// than any burst; a client that falls this far behind is dropped.
	maxQueued = 256 << 10

	// writeWait bounds one write: a client stalled this long is gone.
	writeWait = 10 * time.Second

	// pongWait is how long a client may stay silent before it counts as
	// gone: a laptop that went to sleep, a tab that died without a goodbye.
	pongWait = 60 * time.Second

	// pingPeriod must be shorter than pongWait, so that a live client's
	// pong arrives before the deadline; nine tenths leaves time for the trip.
	pingPeriod = pongWait * 9 / 10
)

const (
	// roomPrefix makes a room's Redis channel: room "lobby" is "room:lobby".
	roomPrefix = "room:"

	// broadcastChannel carries announcements to every client everywhere.
	broadcastChannel = "broadcast"

	// publishTimeout bounds one PUBLISH, so that a client whose message
	// cannot reach Redis hears about it within seconds.
	publishTimeout = 3 * time.Second
)

// newline separates messages that share one frame (see write).
var newline = []byte{'\n'}

// upgrader turns an HTTP request into a WebSocket connection. Its nil
// CheckOrigin refuses pages from other sites, which could chat as their visitors.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  256,          // kept as long as the connection: small
	WriteBufferPool: &sync.Pool{}, // a write buffer only while writing
}

func main() {
	port, err := parsePort(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "usage: step4-rooms [port]: %v\n", err)
		os.Exit(2)
	}

	// REDIS_URL names the Redis; without it, localhost:6379, maybe embedded (broker.go).
	rdb, broker, err := connectRedis(os.Getenv("REDIS_URL"), defaultRedisAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "step4-rooms: %v\n", err)
		os.Exit(2)
	}

	// Still one subscription for the whole process. It starts with the
	// broadcast channel; rooms come and go on it as clients join and leave.
	ps := rdb.Subscribe(context.Background(), broadcastChannel)
	h := newHub(rdb, ps, fmt.Sprint(port))

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	log.Printf("listening on http://%s", addr)
	go h.relay(ps) // only now: its first log line comes after this one
	// Serve until Ctrl-C, then say goodbye to every client (shutdown.go).
	h.serveUntilSignal(newServer(addr, newMux(h)), broker)
}

// newMux routes the requests: the page at "/" and the WebSocket at "/ws".
func newMux(h *hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("GET /debug/vars", h.serveVars) // counters, to watch it run (server.go)
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		serveWS(h, w, r)
	})
	return mux
}

// hub is the set of connected clients and their rooms, and the link to
// Redis. A mutex guards it, because every connection's goroutines use it.
type hub struct {
	rdb                  redis.UniversalClient
	ps                   subscription  // a *redis.PubSub; on a Redis Cluster, one per room (cluster.go)
	via                  string        // this instance, as its messages say: its port
	pingPeriod, pongWait time.Duration // the heartbeat; tests shorten it
	subMu                sync.Mutex    // SUBSCRIBE and UNSUBSCRIBE in the order decided (rooms.go)

	mu         sync.Mutex
	clients    map[*client]bool
	rooms      map[string]*room // the rooms with a member on this instance
	pending    map[string]int   // per channel, commands not yet answered (rooms.go)
	subscribed bool             // Redis has confirmed the broadcast channel
	stats      stats            // counted for /debug/vars (server.go)
}

// room is one room's members on this instance.
type room struct {
	members   map[*client]bool
	confirmed bool // Redis has confirmed our subscription to its channel
}

func newHub(rdb redis.UniversalClient, ps *redis.PubSub, via string) *hub {
	return sharded(&hub{rdb: rdb, ps: ps, via: via, pingPeriod: pingPeriod, pongWait: pongWait,
		clients: make(map[*client]bool), rooms: make(map[string]*room), pending: make(map[string]int)})
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = true
	h.queue(c, event{Type: "hello", User: c.name, Via: h.via}.encode()) // who, on which instance
}

// remove forgets c and closes c.wake, which tells its writer to send
// closeMsg (nil: no close frame) and hang up. Only the first call counts.
func (h *hub) remove(c *client, closeMsg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c, closeMsg)
}

func (h *hub) removeLocked(c *client, closeMsg []byte) {
	if h.clients[c] {
		delete(h.clients, c)
		c.closeMsg = closeMsg // before close(c.wake), so the writer sees it
		close(c.wake)
	}
}

// join puts c in the room. The first member here subscribes to the room's
// channel; c hears "joined" once Redis confirms: then c's messages come back.
func (h *hub) join(c *client, name string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	if !h.mayJoin(c, name) { // already in, or in too many rooms (rooms.go)
		h.mu.Unlock()
		return
	}
	r, first := h.rooms[name], false
	if r == nil {
		r, first = &room{members: make(map[*client]bool)}, true
		h.rooms[name] = r
	}
	r.members[c] = true
	c.rooms[name] = r.confirmed
	if r.confirmed {
		h.queue(c, event{Type: "joined", Room: name}.encode())
	}
	h.mu.Unlock()

	if first {
		h.changeSubscription(h.ps.Subscribe, roomPrefix+name)
	}
}

// leave takes c out of the room; the last member out here unsubscribes.
func (h *hub) leave(c *client, name string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	if _, in := c.rooms[name]; !in {
		h.queue(c, errorEvent(fmt.Sprintf("not in room %q", name)))
		h.mu.Unlock()
		return
	}
	last := h.leaveLocked(c, name)
	h.queue(c, event{Type: "left", Room: name}.encode())
	h.mu.Unlock()

	if last {
		h.changeSubscription(h.ps.Unsubscribe, roomPrefix+name)
	}
}

// publish sends a client's message to the room on every instance.
func (h *hub) publish(c *client, req request) error {
	// Until Redis confirms our subscription, a message we publish would not
	// come back to our own clients: better to refuse it than to lose it.
	if !h.confirmed(roomPrefix + req.Room) {
		return errNotSubscribed
	}
	// The user comes from the connection, never from the request.
	msg := event{Type: "message", Room: req.Room, User: c.name, Text: req.Text, TS: time.Now().UnixMilli(), ID: newID(), Via: h.via}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	return h.rdb.Publish(ctx, roomPrefix+req.Room, msg.encode()).Err()
}

// relay delivers what arrives on ps to this instance's clients: a message
// to the members of its room, an announcement to everybody.
func (h *hub) relay(ps subscription) {
	for {
		msg, err := h.receive(ps) // waits out Redis outages (redis.go)
		if err != nil {
			return // the subscription is closed: shutting down
		}
		switch msg := msg.(type) {
		case *redis.Subscription:
			h.answered(msg) // sends "joined" when a room is confirmed (rooms.go)
		case *redis.Message:
			// Anyone can PUBLISH to Redis: pass on only what checks out (protocol.go).
			if ev, ok := fromRedis(msg.Channel, msg.Payload); !ok {
				log.Printf("dropped a malformed message on %s", msg.Channel)
			} else if ev.Type == "announcement" {
				h.broadcast(ev.encode())
			} else {
				h.deliver(ev.Room, ev.encode())
			}
		}
	}
}

// deliver hands a room's message to the room's members on this instance.
func (h *hub) deliver(name string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[name]; r != nil {
		for c := range r.members {
			h.queue(c, msg)
		}
	}
}

// broadcast queues msg for every client.
func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		h.queue(c, msg)
	}
}

// send queues msg for c alone.
func (h *hub) send(c *client, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue(c, msg)
}

// queue adds msg to c's next frame and wakes c's writer, unless c has left
// the hub (a client on its way out may still be in rooms). It never waits:
// a client with maxQueued bytes waiting is dropped instead. The caller holds h.mu.
func (h *hub) queue(c *client, msg []byte) {
	if !h.clients[c] {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue)+len(msg) >= maxQueued {
		c.queue = nil // it would never catch up: it hears why, and nothing more
		h.stats.slow++
		h.removeLocked(c, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow: message queue full"))
		return
	}
	if len(c.queue) > 0 {
		c.queue = append(c.queue, newline...)
	}
	c.queue = append(c.queue, msg...)
	h.stats.out++
	select {
	case c.wake <- struct{}{}: // the writer will look
	default: // it has been told already, and has not looked yet
	}
}

// client is one WebSocket connection. Gorilla allows one reader and one
// writer at a time, so readPump is the only reader and writePump the only
// writer: everybody else leaves messages in the client's queue.
type client struct {
	hub      *hub
	conn     *websocket.Conn
	wake     chan struct{} // has a value when something is queued; closed: hang up
	closeMsg []byte        // the close frame to send once wake is closed, or nil
	stopped  chan struct{} // closed once writePump has hung up (shutdown.go waits)
	name     string
	rooms    map[string]bool // the rooms it is in, and whether it heard "joined" (h.mu)
	mu       sync.Mutex      // the queue: the hub adds to it, the writer takes it
	queue    []byte          // the next frame: what waits for the writer, one message per line
}

// serveWS checks the name, upgrades the request and starts the connection's
// two goroutines. It returns at once: the request need not live as long.
func serveWS(h *hub, w http.ResponseWriter, r *http.Request) {
	name, err := nameFrom(r) // ?name=alice, or a guest name (protocol.go)
	if err != nil {
		// Refused as plain HTTP: a browser's WebSocket hides why, curl shows it.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error.
	}
	c := &client{hub: h, conn: conn, wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		name: name, rooms: make(map[string]bool)}
	h.add(c)
	go c.writePump()
	go c.readPump()
}

// readPump carries out each request, until the connection ends.
func (c *client) readPump() {
	// However the loop ends, the client leaves the hub and its rooms.
	var closeMsg []byte
	defer func() {
		c.hub.remove(c, closeMsg)
		c.hub.leaveAll(c)
	}()

	c.conn.SetReadLimit(maxMessageSize)
	// Heartbeat: a client must answer our pings. Each pong moves the read
	// deadline on; a client that stays silent past it fails the read below.
	c.conn.SetReadDeadline(time.Now().Add(c.hub.pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(c.hub.pongWait))
	})
	limit := clientLimit // a client that floods waits its turn (server.go)
	for {
		limit.wait()
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			return // the client left, its network dropped, it missed a heartbeat, or its frame was too big
		}
		if kind != websocket.TextMessage {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames are not supported")
			return
		}
		// Gorilla leaves UTF-8 unchecked; a browser drops a connection on invalid text.
		if !utf8.Valid(data) {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text must be UTF-8")
			return
		}
		req, err := parseRequest(data) // protocol.go
		if err != nil {
			c.hub.send(c, errorEvent(err.Error()))
			continue
		}
		switch req.Type {
		case "join":
			c.hub.join(c, req.Room)
		case "leave":
			c.hub.leave(c, req.Room)
		case "message":
			if !c.hub.isMember(c, req.Room) {
				c.hub.send(c, errorEvent(fmt.Sprintf("not in room %q: join it first", req.Room)))
			} else if err := c.hub.publish(c, req); err != nil {
				c.hub.send(c, c.hub.notSent(err, req.Room)) // what became of it (redis.go)
			}
		}
	}
}

// writePump writes the client's queue whenever woken, until the hub closes
// c.wake, and pings the client every pingPeriod.
func (c *client) writePump() {
	ticker := time.NewTicker(c.hub.pingPeriod)
	defer ticker.Stop()
	defer close(c.stopped)
	defer c.conn.Close() // which ends readPump too, if it is still reading
	for {
		select {
		case _, ok := <-c.wake:
			if !ok {
				// The hub let go of the client: say why, if there is a reason.
				if c.closeMsg != nil {
					c.conn.WriteControl(websocket.CloseMessage, c.closeMsg, time.Now().Add(writeWait))
				}
				return
			}
			if err := c.write(); err != nil {
				return // the client cannot be reached
			}
		case <-ticker.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}

// write takes everything queued and sends it as one frame: under load, one
// system call carries many messages.
func (c *client) write() error {
	c.mu.Lock()
	frame := c.queue
	c.queue = nil
	c.mu.Unlock()
	if len(frame) == 0 {
		return nil // an earlier write took it
	}
	c.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return c.conn.WriteMessage(websocket.TextMessage, frame)
}
