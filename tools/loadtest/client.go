package main

import (
	"bytes"
	"io"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxFrameSize bounds what one server frame may carry. Servers that
	// batch put up to a few hundred short messages in a frame; a megabyte
	// is far above that, yet stops a broken server from eating our memory.
	maxFrameSize = 1 << 20

	// initialFrameBuffer is a client's first frame buffer, allocated at the
	// first frame (idle connections never get one). It grows as needed and
	// is reused, so reading allocates nothing once it has grown.
	initialFrameBuffer = 1024
)

// client is one WebSocket connection. One goroutine, readLoop, reads it;
// if the client is a sender, another goroutine (sendLoop) writes it, which
// gorilla allows: one reader and one writer at a time.
type client struct {
	url  string // the server it is connected to
	conn *websocket.Conn
	run  *run
	room int // the room it joins (rooms.go); 0 with the text protocol

	// Read by other goroutines (progress, the drain wait) while readLoop runs.
	received atomic.Int64 // distinct deliveries of this run's messages
	dups     atomic.Int64 // deliveries of a message this client already had
	probed   atomic.Bool  // got a probe: the chat reaches this client
	settled  atomic.Bool  // counted in run.settled (see run.settle)
	failed   atomic.Bool  // lost its connection before the run ended

	// Owned by readLoop; read by others only after readerDone is closed.
	seen         [][]uint64 // per sender, a bit per sequence number received
	latency      *histogram // allocated at the first delivery
	lastAt       int64      // unix nanoseconds of the last delivery
	notOurs      int64      // lines that were not this run's payloads
	wrongRoom    int64      // this run's messages sent to another room than ours
	frames       int64      // frames received
	buf          []byte     // frame buffer, reused
	joinAnswered bool       // rooms: joined or refused has been closed
	readerDone   chan struct{}

	// Rooms protocol only: readLoop closes joined when the server confirms
	// the join, or sets joinRefusal to the server's error line and closes
	// refused if it answers the join with an error.
	joined      chan struct{}
	refused     chan struct{}
	joinRefusal []byte
}

func newClient(r *run, url string, conn *websocket.Conn, room int) *client {
	conn.SetReadLimit(maxFrameSize)
	return &client{
		url: url, conn: conn, run: r, room: room,
		readerDone: make(chan struct{}),
		joined:     make(chan struct{}),
		refused:    make(chan struct{}),
	}
}

// readLoop reads frames until the connection ends.
func (c *client) readLoop() {
	defer close(c.readerDone)
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			err = c.readFrame(r)
		}
		if err != nil {
			c.run.connectionEnded(c, err)
			return
		}
		c.frames++
		c.handleFrame(c.buf, time.Now().UnixNano())
	}
}

// readFrame reads the rest of a frame into c.buf, reusing its memory:
// gorilla's ReadMessage would allocate a new slice for every frame.
func (c *client) readFrame(r io.Reader) error {
	if c.buf == nil {
		c.buf = make([]byte, 0, initialFrameBuffer)
	}
	b := c.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow (append doubles)
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			c.buf = b
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// handleFrame counts every message in a frame: a server may put several in
// one frame, one per line. now is when the frame arrived.
func (c *client) handleFrame(frame []byte, now int64) {
	var got, dups int64
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		switch c.handleLine(line, now) {
		case lineNew:
			got++
		case lineDup:
			dups++
		}
	}
	// One atomic add per frame, not per message.
	if dups > 0 {
		c.dups.Add(dups)
	}
	if got > 0 {
		c.lastAt = now
		if c.received.Add(got) >= c.run.target[c.room].Load() {
			c.run.settle(c)
		}
	}
}

// What a line turned out to be.
type lineResult int

const (
	lineOther lineResult = iota // not a delivery to count
	lineNew                     // a message this client had not had yet
	lineDup                     // a message this client already had
)

// handleLine counts one message. It runs once per delivery: no allocation,
// no JSON decoding.
func (c *client) handleLine(line []byte, now int64) lineResult {
	r := c.run
	text := line
	switch {
	case r.cfg.protocol == protocolRooms:
		var ok bool
		if text, ok = messageText(line, r.prefix); !ok {
			c.handleRoomsControl(line)
			return lineOther
		}
	case len(line) > 0 && line[0] == '{':
		// Step 3: a JSON object, whose "text" is the payload. Notices and
		// Redis states ({"notice":...}, {"redis":"up"}) are not messages:
		// skipped, like step 4's objects other than messages.
		var ok bool
		if text, ok = objectText(line, r.prefix); !ok {
			if hasText(line) {
				c.notOurs++ // somebody else's message
			}
			return lineOther
		}
	}
	kind, sender, seq, sentAt := parsePayload(text, r.prefix)
	switch {
	case kind == probe:
		if !c.probed.Load() {
			c.probed.Store(true)
			r.probeArrived(c)
		}
		return lineOther
	case kind != counted || sender >= r.cfg.senders || seq >= r.maxSeq:
		c.notOurs++
		return lineOther
	case r.senderRoom[sender] != c.room:
		// A server that mixes up rooms: not a delivery, and it must show.
		c.wrongRoom++
		return lineOther
	}

	if c.seen == nil {
		c.seen = make([][]uint64, r.cfg.senders)
	}
	bitset := c.seen[sender]
	if bitset == nil {
		bitset = make([]uint64, (r.maxSeq+63)/64)
		c.seen[sender] = bitset
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if bitset[word]&bit != 0 {
		return lineDup
	}
	bitset[word] |= bit

	if c.latency == nil {
		c.latency = new(histogram)
	}
	c.latency.record(time.Duration(now - sentAt))
	return lineNew
}

// handleRoomsControl looks at a step 4 object that is not a message: before
// the join is confirmed, it waits for "joined" (or an "error").
func (c *client) handleRoomsControl(line []byte) {
	if c.joinAnswered {
		return // announcements, people leaving and the like are not counted
	}
	switch t := objectType(line); {
	case bytes.Equal(t, joinedValue):
		c.joinAnswered = true
		close(c.joined)
	case bytes.Equal(t, errorValue):
		c.joinAnswered = true
		c.joinRefusal = bytes.Clone(line)
		close(c.refused)
	}
}
