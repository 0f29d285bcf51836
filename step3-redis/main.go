// Command step3-redis is step 2 plus Redis Pub/Sub: every instance publishes
// its clients' messages to one Redis channel, and delivers to its clients
// what arrives on its subscription: one chat, however many instances.
//
// Run two instances from the repository root, in two terminals, and open a
// tab on each port:
//
//	go run ./step3-redis 3459
//	go run ./step3-redis 3460
package main

import (
	"bytes"
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
	// maxMessageSize is the largest frame a client may send: 1009 beyond.
	maxMessageSize = 4096

	// maxQueued is how many bytes may wait for one client's writer: far more
	// than any burst; a client that falls this far behind is dropped.
	maxQueued = 256 << 10

	// writeWait bounds one write: a client stalled this long is gone.
	writeWait = 10 * time.Second
)

const (
	// chatChannel is the Redis channel every instance publishes to and
	// subscribes to: that shared name is all the instances agree on.
	chatChannel = "chat"

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
		fmt.Fprintf(os.Stderr, "usage: step3-redis [port]: %v\n", err)
		os.Exit(2)
	}

	// REDIS_URL names the Redis; without it, localhost:6379, maybe embedded (broker.go).
	rdb, broker, err := connectRedis(os.Getenv("REDIS_URL"), defaultRedisAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "step3-redis: %v\n", err)
		os.Exit(2)
	}

	// One subscription for the whole process, however many clients: Redis
	// sends each message to this instance once, and the hub fans it out.
	ps := rdb.Subscribe(context.Background(), chatChannel)
	h := newHub(rdb, ps, fmt.Sprint(port))

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	log.Printf("listening on http://%s", addr)
	go h.relay() // only now: its first log line comes after this one
	// Serve until Ctrl-C, then say goodbye to every client (shutdown.go).
	h.serveUntilSignal(newServer(addr, newMux(h)), broker)
}

// newMux routes the requests: the page at "/" and the WebSocket at "/ws".
func newMux(h *hub) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		serveWS(h, w, r)
	})
	return mux
}

// hub is the set of connected clients, and the link to Redis. A mutex
// guards it, because every connection's goroutines use it at once.
type hub struct {
	rdb *redis.Client
	ps  *redis.PubSub
	via string // this instance, as its messages say: its port

	mu         sync.Mutex
	clients    map[*client]bool
	subscribed bool // Redis has confirmed our subscription (see publish)
}

func newHub(rdb *redis.Client, ps *redis.PubSub, via string) *hub {
	return &hub{rdb: rdb, ps: ps, via: via, clients: make(map[*client]bool)}
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = true
	h.queue(c, redisState(h.subscribed)) // the page shows it (frames.go)
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

// publish sends msg to every instance, this one included, through Redis.
func (h *hub) publish(msg []byte) error {
	// Until Redis confirms our subscription, a message we publish would not
	// come back to our own clients: better to refuse it than to lose it.
	if !h.isSubscribed() {
		return errNotSubscribed
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	return h.rdb.Publish(ctx, chatChannel, line{Text: string(msg), Via: h.via}.encode()).Err()
}

// relay delivers what arrives on the subscription to this instance's clients.
// Subscribe did not wait for Redis: its answer, a *redis.Subscription, comes first.
func (h *hub) relay() {
	for {
		msg, err := h.receive() // waits out Redis outages (redis.go)
		if err != nil {
			return // the subscription is closed: shutting down
		}
		switch msg := msg.(type) {
		case *redis.Subscription:
			h.setSubscribed(true) // from now on, what we publish comes back to us
		case *redis.Message:
			if l, ok := fromRedis(msg.Payload); ok { // anyone can PUBLISH (frames.go)
				h.broadcast(l)
			}
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
	if h.clients[c] {
		h.queue(c, msg)
	}
}

// queue adds msg to c's next frame and wakes c's writer. It never waits: a
// client with maxQueued bytes waiting is dropped instead. The caller holds h.mu.
func (h *hub) queue(c *client, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue)+len(msg) >= maxQueued {
		c.queue = nil // it would never catch up: it hears why, and nothing more
		h.removeLocked(c, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow: message queue full"))
		return
	}
	if len(c.queue) > 0 {
		c.queue = append(c.queue, newline...)
	}
	c.queue = append(c.queue, msg...)
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
	mu       sync.Mutex    // the queue: the hub adds to it, the writer takes it
	queue    []byte        // the next frame: what waits for the writer, one message per line
}

// serveWS upgrades the request and starts the connection's two goroutines.
// It returns at once: the request need not live as long as the connection.
func serveWS(h *hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error.
	}
	c := &client{hub: h, conn: conn, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	h.add(c)
	go c.writePump()
	go c.readPump()
}

// readPump publishes each message, until the connection ends.
func (c *client) readPump() {
	// However the loop ends, the client leaves the hub, and its writer hangs up.
	var closeMsg []byte
	defer func() { c.hub.remove(c, closeMsg) }()

	c.conn.SetReadLimit(maxMessageSize)
	limit := clientLimit // a client that floods waits its turn (server.go)
	for {
		limit.wait()
		kind, msg, err := c.conn.ReadMessage()
		if err != nil {
			return // the client left, its network dropped, or its frame was too big
		}
		if kind != websocket.TextMessage {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames are not supported")
			return
		}
		// Gorilla leaves UTF-8 unchecked; a browser drops a connection on invalid text.
		if !utf8.Valid(msg) {
			closeMsg = websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text must be UTF-8")
			return
		}
		// Newlines separate messages in a frame, so one inside a message
		// becomes a space; a message with nothing to show is not sent.
		msg = bytes.TrimSpace(bytes.ReplaceAll(msg, newline, []byte{' '}))
		if len(msg) == 0 {
			continue
		}
		// Not straight to the hub any more: through Redis, which hands it
		// back to every instance's relay, this one's included.
		if err := c.hub.publish(msg); err != nil {
			c.hub.send(c, c.hub.notSent(err)) // what became of it (redis.go)
		}
	}
}

// writePump writes the client's queue whenever woken, until the hub closes c.wake.
func (c *client) writePump() {
	defer close(c.stopped)
	defer c.conn.Close() // which ends readPump too, if it is still reading
	for range c.wake {
		if err := c.write(); err != nil {
			return // the client cannot be reached
		}
	}
	// The hub let go of the client: say why, if there is a reason.
	if c.closeMsg != nil {
		c.conn.WriteControl(websocket.CloseMessage, c.closeMsg, time.Now().Add(writeWait))
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
