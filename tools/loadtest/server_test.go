package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testServer is a tiny chat server for the tests: every message a client
// sends goes to every client, the sender included, like the workshop's
// servers: as plain text (step 2), as JSON lines (step 3) or in rooms (step
// 4). Options make it misbehave in controlled ways; it counts what it did so
// that the tests can check the load generator's arithmetic. With
// opts.listeners above 1 it listens on several ports and they share one
// chat, like instances behind one Redis.
type testServer struct {
	opts serverOptions
	url  string   // ws://127.0.0.1:port/ws
	urls []string // url first, then the other listeners'
	port string   // what step 3 and 4 messages say as "via"

	done chan struct{} // closed when the test ends

	mu        sync.Mutex
	conns     []*testConn
	nextIndex int
	joins     map[string][]int // rooms: per room, the joins through each listener

	delivered  atomic.Int64 // copies of counted messages queued for clients
	dropped    atomic.Int64 // deliveries skipped (opts.copies returned 0)
	duplicated atomic.Int64 // extra copies delivered
	multiLine  atomic.Int64 // frames that carried more than one message
}

type serverOptions struct {
	rooms bool // step 4's JSON protocol instead of plain text

	// listeners: how many ports share the chat (0 means 1).
	listeners int

	// muteRoom: rooms only; nothing sent to this room is delivered, probes
	// included, as if its channel were broken.
	muteRoom string

	// leakRooms: rooms only; a message goes to every client, whatever
	// room it is in, as if the server mixed up its channels.
	leakRooms bool

	// jsonLines: step 3's lines instead of plain text. A client gets
	// {"redis":"up"} first, then a notice and somebody else's message, none
	// of which is a delivery to count; a message arrives as
	// {"text":"...","via":"<port>"}.
	jsonLines bool

	// batch > 1 makes the writer put up to batch messages in a frame: it
	// waits up to batchWait for the frame to fill, as a busy server would.
	batch int

	// copies, if set, says how many copies of a counted message (payload
	// parsed by the test) connection conn receives: 0 drops it, 2 duplicates.
	copies func(conn int, sender int, seq int64) int

	// kick, if set, is asked after each frame to connection conn, with the
	// number of messages written to it so far; true closes it with 1008.
	kick func(conn int, written int) bool

	// closeAtOnce closes every connection right after the upgrade.
	closeAtOnce bool

	// deaf: the server relays only probes, never answers a close frame and
	// never hangs up, like a server that has stopped working.
	deaf bool
}

// batchWait is how long a batching test server waits for a frame to fill.
const batchWait = 5 * time.Millisecond

type testConn struct {
	index    int
	listener int // which of the server's urls it came through
	name     string
	ws       *websocket.Conn
	out      chan []byte
	room     string // rooms: the joined room
}

// startServer runs a test server on loopback for the length of the test.
func startServer(t *testing.T, opts serverOptions) *testServer {
	t.Helper()
	s := &testServer{opts: opts, done: make(chan struct{}), joins: make(map[string][]int)}
	for l := range max(opts.listeners, 1) {
		hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.serveWS(w, r, l)
		}))
		if l == 0 {
			_, s.port, _ = net.SplitHostPort(hs.Listener.Addr().String())
		}
		hs.Start()
		t.Cleanup(hs.Close)
		s.urls = append(s.urls, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws")
	}
	// Close the WebSockets before hs.Close, which waits for the handlers
	// (cleanups run last first).
	t.Cleanup(s.closeAll)
	s.url = s.urls[0]
	return s
}

func (s *testServer) closeAll() {
	close(s.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.ws.Close()
	}
}

var testUpgrader = websocket.Upgrader{}

func (s *testServer) serveWS(w http.ResponseWriter, r *http.Request, listener int) {
	name := r.URL.Query().Get("name")
	if s.opts.rooms && name == "" {
		http.Error(w, "name required", http.StatusBadRequest)
		return
	}
	ws, err := testUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	if s.opts.closeAtOnce {
		ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "not now"), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	// The outbox is big enough for every test's traffic: a test server
	// never drops a client for being slow.
	c := &testConn{name: name, listener: listener, ws: ws, out: make(chan []byte, 1<<16)}
	s.mu.Lock()
	c.index = s.nextIndex
	s.nextIndex++
	s.conns = append(s.conns, c)
	if s.opts.jsonLines {
		// Before any message: under s.mu, no broadcast comes first.
		c.out <- []byte(`{"redis":"up"}`)
		c.out <- []byte(`{"notice":"Your last message could not be confirmed: Redis did not answer. It may still arrive."}`)
		c.out <- step3Line(`<b>hello</b>`, "redis")
	}
	s.mu.Unlock()

	if s.opts.deaf {
		ws.SetCloseHandler(func(int, string) error { return nil }) // no answer
	}
	go s.writeLoop(c)
	s.readLoop(c)
}

func (s *testServer) readLoop(c *testConn) {
	defer s.remove(c)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			if s.opts.deaf {
				<-s.done // hold the connection until the test ends
			}
			return
		}
		if s.opts.jsonLines {
			s.broadcast("", step3Line(string(msg), s.port), msg)
			continue
		}
		if !s.opts.rooms {
			s.broadcast("", msg, msg)
			continue
		}
		var req struct{ Type, Room, Text string }
		if json.Unmarshal(msg, &req) != nil {
			continue
		}
		switch req.Type {
		case "join":
			s.mu.Lock()
			c.room = req.Room
			if s.joins[req.Room] == nil {
				s.joins[req.Room] = make([]int, len(s.urls))
			}
			s.joins[req.Room][c.listener]++
			s.mu.Unlock()
			c.out <- []byte(`{"type":"joined","room":"` + req.Room + `"}`)
			// Noise that the load generator must not count.
			s.broadcast(req.Room, []byte(`{"type":"announcement","room":"`+req.Room+`","text":"`+c.name+` joined"}`), nil)
		case "message":
			// Keys in sorted order, so "text" comes before "type": the
			// load generator must not depend on the order.
			line, _ := json.Marshal(map[string]any{
				"type": "message", "room": req.Room, "user": c.name, "text": req.Text,
				"ts": time.Now().UnixMilli(), "id": strconv.Itoa(c.index), "via": s.port,
			})
			s.broadcast(req.Room, line, []byte(req.Text))
		}
	}
}

// step3Line is a step 3 message line, made the way step 3 makes it.
func step3Line(text, via string) []byte {
	line, _ := json.Marshal(struct {
		Text string `json:"text"`
		Via  string `json:"via"`
	}{text, via})
	return line
}

// remove forgets c and ends its writer. Under s.mu, so that no broadcast
// sends to the closed outbox.
func (s *testServer) remove(c *testConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, other := range s.conns {
		if other == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			close(c.out)
			return
		}
	}
}

// broadcast sends msg to every client (in room, with the rooms protocol),
// applying opts.copies and opts.deaf to counted messages. text is the
// message's text (nil for other objects).
func (s *testServer) broadcast(room string, msg, text []byte) {
	isProbe := bytes.Contains(text, []byte(" "+probeWord+" "))
	if s.opts.deaf && !isProbe {
		return
	}
	// The test knows the payload format: parse the sender and sequence
	// number of a counted message (the run id is not checked here).
	sender, seq := -1, int64(-1)
	if f := bytes.Fields(text); len(f) == 5 && !isProbe {
		sender, _ = strconv.Atoi(string(f[2]))
		seq, _ = strconv.ParseInt(string(f[3]), 10, 64)
	}

	if s.opts.rooms && room == s.opts.muteRoom && text != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if s.opts.rooms && c.room != room && !(s.opts.leakRooms && text != nil) {
			continue
		}
		n := 1
		if s.opts.copies != nil && sender >= 0 {
			n = s.opts.copies(c.index, sender, seq)
		}
		if sender >= 0 {
			s.delivered.Add(int64(n))
		}
		switch {
		case n == 0:
			s.dropped.Add(1)
		case n > 1:
			s.duplicated.Add(int64(n - 1))
		}
		for range n {
			c.out <- msg // big enough: never blocks in these tests
		}
	}
}

func (s *testServer) writeLoop(c *testConn) {
	defer c.ws.Close()
	written := 0
	for msg := range c.out {
		frame := msg
		n := 1
		if s.opts.batch > 1 {
			frame, n = s.fillFrame(c, msg)
		}
		if n > 1 {
			s.multiLine.Add(1)
		}
		if c.ws.WriteMessage(websocket.TextMessage, frame) != nil {
			return
		}
		written += n
		if s.opts.kick != nil && s.opts.kick(c.index, written) {
			c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow"), time.Now().Add(time.Second))
			return
		}
	}
}

// fillFrame starts a frame with first and adds messages, one per line,
// until it has opts.batch of them or none arrives within batchWait.
func (s *testServer) fillFrame(c *testConn, first []byte) ([]byte, int) {
	frame := append([]byte(nil), first...)
	n := 1
	wait := time.NewTimer(batchWait)
	defer wait.Stop()
	for n < s.opts.batch {
		select {
		case msg, ok := <-c.out:
			if !ok {
				return frame, n
			}
			frame = append(append(frame, '\n'), msg...)
			n++
		case <-wait.C:
			return frame, n
		}
	}
	return frame, n
}
