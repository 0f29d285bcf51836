// Command step2-websocket is step 1 plus a WebSocket endpoint: every text
// message a client sends reaches every client connected to this process,
// the sender included.
//
// Run it from the repository root and open http://localhost:3459 in two tabs:
//
//	go run ./step2-websocket
package main

import (
	"bytes"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
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
		fmt.Fprintf(os.Stderr, "usage: step2-websocket [port]: %v\n", err)
		os.Exit(2)
	}

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	log.Printf("listening on http://%s", addr)
	log.Fatal(newServer(addr, newMux(newHub())).ListenAndServe())
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

// hub is the set of connected clients. A mutex guards it, because every
// connection's goroutines add, remove and broadcast at the same time.
type hub struct {
	mu      sync.Mutex
	clients map[*client]bool
}

func newHub() *hub { return &hub{clients: make(map[*client]bool)} }

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = true
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

// broadcast queues msg for every client.
func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
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
	c := &client{hub: h, conn: conn, wake: make(chan struct{}, 1)}
	h.add(c)
	go c.writePump()
	go c.readPump()
}

// readPump hands each message to the hub, until the connection ends.
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
		if len(msg) > 0 {
			c.hub.broadcast(msg)
		}
	}
}

// writePump writes the client's queue whenever woken, until the hub closes c.wake.
func (c *client) writePump() {
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
