package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// probeRetry is how often the setup re-sends its probe message. A
	// server registers a connection (or subscribes to Redis) a moment after
	// the handshake, so an early probe can miss the last clients; sending
	// again until every client has one proves the whole path works before
	// anything is counted.
	probeRetry = 200 * time.Millisecond

	// closeWait bounds the goodbye: after sending close frames, how long we
	// wait for the servers to answer before dropping the connections.
	closeWait = time.Second
)

// errInterrupted is returned when the run is cancelled (Ctrl-C) during setup.
var errInterrupted = errors.New("interrupted")

// Phases of a run, for the progress lines.
const (
	phaseConnecting int32 = iota
	phaseProbing
	phaseSending
	phaseHolding
	phaseDraining
	phaseClosing
)

// run is the state of one load test, shared by every goroutine.
type run struct {
	cfg    config
	log    io.Writer // progress lines; io.Discard with -quiet
	prefix []byte    // every payload of this run starts with it
	maxSeq int64     // sequence numbers are below this (sizes the duplicate bitsets)
	dialer websocket.Dialer

	phase     atomic.Int32 // for the progress lines
	setupOver atomic.Bool  // from now on a lost connection is counted, not fatal
	connected atomic.Int64 // clients connected (and joined) so far
	clients   []*client    // index = client id; complete once phase > phaseConnecting

	// Setup: the first failure wins and cancels the rest of the setup.
	setupMu     sync.Mutex
	setupErr    error
	cancelSetup context.CancelFunc

	// Rooms (rooms.go): with the text protocol, or -rooms 1, there is one.
	roomSizes  []int64 // members of each room
	senderRoom []int   // the room of each sender

	probed     atomic.Int64   // clients that received a probe
	roomProbed []atomic.Int64 // the same, per room
	allProbed  chan struct{}

	sent      atomic.Int64
	sentTo    []atomic.Int64 // messages sent, per room
	sendStart time.Time      // set before the senders start

	// The drain ends when every client is settled: it has received its
	// room's target messages, or it lost its connection. The targets stay
	// at MaxInt64 while the senders run, since nobody knows the totals yet.
	target     []atomic.Int64 // per room
	settled    atomic.Int64
	allSettled chan struct{}

	closing atomic.Bool // we are hanging up: connections ending is expected

	lostMu  sync.Mutex
	lost    int            // clients that lost their connection mid-run
	reasons map[string]int // why, counted
}

func newRun(cfg config, log io.Writer) *run {
	r := &run{
		cfg:        cfg,
		log:        log,
		prefix:     runPrefix(newRunID()),
		roomSizes:  cfg.roomSizes(),
		senderRoom: make([]int, cfg.senders),
		roomProbed: make([]atomic.Int64, cfg.rooms),
		allProbed:  make(chan struct{}),
		sentTo:     make([]atomic.Int64, cfg.rooms),
		target:     make([]atomic.Int64, cfg.rooms),
		allSettled: make(chan struct{}),
		reasons:    make(map[string]int),
		dialer: websocket.Dialer{
			HandshakeTimeout: handshakeTimeout,
			// Most clients only read; with a pool, only a client that is
			// writing holds a write buffer (matters with 8000 clients).
			WriteBufferPool: &sync.Pool{},
		},
	}
	if cfg.senders > 0 {
		// Each sender sends at most one message per interval; a few more
		// for rounding.
		r.maxSeq = int64(cfg.duration/cfg.interval()) + 2
	}
	for k := range r.senderRoom {
		r.senderRoom[k] = cfg.roomOf(k) // sender k is client k
	}
	for i := range r.target {
		r.target[i].Store(math.MaxInt64)
	}
	return r
}

// execute runs the load test and returns its summary. Setup failures (a
// server down, a refused upgrade, a closed connection) are errors; what
// happens after the setup (loss, disconnections) is in the summary.
func execute(ctx context.Context, cfg config, log io.Writer) (*summary, error) {
	if err := ensureFileLimit(cfg.clients); err != nil {
		return nil, err
	}
	r := newRun(cfg, log)
	defer r.startProgress()()

	start := time.Now()
	if err := r.setup(ctx); err != nil {
		r.hangUp()
		return nil, err
	}
	inRooms := ""
	if cfg.rooms > 1 {
		inRooms = fmt.Sprintf(" in %d rooms", cfg.rooms)
	}
	fmt.Fprintf(log, "loadtest: connected %d clients%s to %d server(s) in %.1fs\n",
		cfg.clients, inRooms, len(cfg.servers), time.Since(start).Seconds())

	var s *summary
	if cfg.senders == 0 {
		s = r.hold(ctx)
	} else {
		s = r.send(ctx)
	}
	r.hangUp()
	s.finish(r, time.Since(start))
	return s, nil
}

// setup connects every client and, if there will be senders, waits until a
// probe message has reached all of them, all within cfg.connectTimeout.
// Each room gets its own probe, sent by its first member (rooms.go), until
// every member of the room has it.
func (r *run) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.connectTimeout)
	defer cancel()
	r.cancelSetup = cancel

	r.connectAll(ctx)
	if err := r.setupError(ctx, "clients connected", r.connected.Load()); err != nil {
		return err
	}
	if r.cfg.senders == 0 {
		r.setupOver.Store(true)
		return nil
	}
	r.phase.Store(phaseProbing)
	var buf []byte
	for n := 0; ; n++ {
		for room, size := range r.roomSizes {
			if r.roomProbed[room].Load() == size {
				continue // every member has one
			}
			// Client room is the room's first member. The senders have
			// not started: every client is ours to write.
			c := r.clients[room]
			buf = r.encode(room, appendProbe(buf[:0], r.prefix, n))
			c.conn.SetWriteDeadline(time.Now().Add(probeRetry))
			if err := c.conn.WriteMessage(websocket.TextMessage, buf); err != nil {
				r.failSetup(fmt.Errorf("%s: sending the first message: %v", c.url, err))
				break
			}
		}
		retry := time.NewTimer(probeRetry)
		select {
		case <-r.allProbed:
			retry.Stop()
			r.setupOver.Store(true)
			return nil
		case <-ctx.Done():
			retry.Stop()
			err := r.setupError(ctx, "clients received a first message", r.probed.Load())
			if err != nil && r.cfg.rooms > 1 && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				err = fmt.Errorf("%w; %s", err, r.unprobedRooms())
			}
			return err
		case <-retry.C:
		}
	}
}

// unprobedRooms says which rooms have members that got no probe (the
// first few of them), to tell a room that is broken from a slow setup.
func (r *run) unprobedRooms() string {
	const show = 3
	var names []string
	missing := 0
	for room, size := range r.roomSizes {
		if got := r.roomProbed[room].Load(); got < size {
			missing++
			if len(names) < show {
				names = append(names, fmt.Sprintf("%s (%d of %d)", r.cfg.roomName(room), got, size))
			}
		}
	}
	more := ""
	if missing > show {
		more = ", ..."
	}
	return fmt.Sprintf("%d of %d rooms incomplete: %s%s", missing, r.cfg.rooms, strings.Join(names, ", "), more)
}

// failSetup records the first setup failure and cancels the setup.
func (r *run) failSetup(err error) {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	if r.setupErr == nil {
		r.setupErr = err
		r.cancelSetup()
	}
}

// setupError explains why the setup stopped, or returns nil if it did not.
// what and done describe the progress if the time ran out.
func (r *run) setupError(ctx context.Context, what string, done int64) error {
	r.setupMu.Lock()
	err := r.setupErr
	r.setupMu.Unlock()
	switch {
	case err != nil:
		return err
	case ctx.Err() == nil:
		return nil
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return fmt.Errorf("setup timed out: %d of %d %s within -connect-timeout %v",
			done, r.cfg.clients, what, r.cfg.connectTimeout)
	default:
		return errInterrupted
	}
}

// encode wraps a payload for the wire: as is for the text protocol, in a
// message object to the room for rooms. It may return payload's memory.
func (r *run) encode(room int, payload []byte) []byte {
	if r.cfg.protocol != protocolRooms {
		return payload
	}
	return appendMessage(make([]byte, 0, len(payload)+64), r.cfg.roomName(room), payload)
}

// probeArrived is called by each client's reader at its first probe.
func (r *run) probeArrived(c *client) {
	r.roomProbed[c.room].Add(1)
	if r.probed.Add(1) == int64(r.cfg.clients) {
		close(r.allProbed)
	}
}

// settle marks c as done for the drain: it has every message, or it lost
// its connection. Whoever calls it first for c counts it.
func (r *run) settle(c *client) {
	if c.settled.CompareAndSwap(false, true) && r.settled.Add(1) == int64(r.cfg.clients) {
		close(r.allSettled)
	}
}

// connectionEnded is called when a client's connection fails or closes.
func (r *run) connectionEnded(c *client, err error) {
	if r.closing.Load() {
		return // we hung up
	}
	if !r.setupOver.Load() {
		if c.joinRefusal != nil {
			r.failSetup(joinRefusedError(c))
		} else {
			r.failSetup(fmt.Errorf("%s closed the connection during setup: %s", c.url, endReason(err)))
		}
		return
	}
	if !c.failed.CompareAndSwap(false, true) {
		return // already counted (its sender saw the error first)
	}
	reason := endReason(err)
	r.lostMu.Lock()
	r.lost++
	r.reasons[reason]++
	r.lostMu.Unlock()
	r.settle(c) // it will get nothing more: do not wait for it
}

// endReason describes why a connection ended, in a few words that are the
// same for every client that ended the same way (they are counted).
func endReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" {
			return fmt.Sprintf("server closed with %d: %s", ce.Code, ce.Text)
		}
		return fmt.Sprintf("server closed with %d", ce.Code)
	}
	// A network error names both addresses, which differ per client: keep
	// only what happened, so that clients that failed alike count together.
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		if prefix, _, found := strings.Cut(err.Error(), opErr.Error()); found {
			return prefix + opErr.Op + ": " + opErr.Err.Error()
		}
		return opErr.Op + ": " + opErr.Err.Error()
	}
	return err.Error()
}

// hangUp closes every connection: a close frame first, so that the servers
// see a clean goodbye, then, after at most closeWait, the sockets.
func (r *run) hangUp() {
	r.closing.Store(true)
	r.phase.Store(phaseClosing)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "load test done")
	// One deadline for all: a server that stopped reading cannot hold us
	// up for longer than closeWait in total.
	deadline := time.Now().Add(closeWait)
	for _, c := range r.clients {
		if c != nil {
			c.conn.WriteControl(websocket.CloseMessage, msg, deadline)
		}
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	expired := false
	for _, c := range r.clients {
		if c == nil {
			continue
		}
		if !expired {
			select {
			case <-c.readerDone: // the server answered our close frame
			case <-timeout.C:
				expired = true
			}
		}
		c.conn.Close() // no-op after the close handshake; ends a stuck reader
		<-c.readerDone
	}
}
