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
	_ "embed"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// defaultPort is the port the guides use; the second instance in step 3 uses 3460.
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

// newline separates messages that share one frame (see write).
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
		fmt.Fprintf(os.Stderr, "usage: step2-websocket [port]: %v\n", err)
		os.Exit(2)
	}

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	log.Printf("listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newMux(newHub())))
}

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

// hub is the set of connected clients. A mutex guards it because every
// connection's goroutine adds, removes and broadcasts concurrently.
type hub struct {
	mu      sync.Mutex
	clients map[*client]bool
}

func newHub() *hub {
	return &hub{clients: make(map[*client]bool)}
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = true
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

// broadcast queues msg for every client. It never waits on a client: one
// whose queue is full is disconnected instead of slowing the others.
func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.push(msg) {
			h.removeLocked(c, websocket.FormatCloseMessage(
				websocket.ClosePolicyViolation, "too slow: message queue full"))
		}
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

	mu       sync.Mutex
	queue    [][]byte // messages waiting for writePump
	writing  bool     // a writePump is running (never more than one)
	done     bool     // the hub removed the client: no more messages
	closeMsg []byte   // the close frame to send when done, or nil for none
}

func newClient(conn *websocket.Conn) *client {
	return &client{conn: conn, wake: make(chan struct{}, 1)}
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
	h.add(c)
	go c.readPump(h)
}

// readPump reads messages until the connection fails or closes, and hands
// each one to the hub.
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
		if len(msg) > 0 {
			h.broadcast(msg)
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
