package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxRatePerSender caps one sender at a message every 10µs: a timer
	// cannot pace much finer than that, and no server here carries it.
	maxRatePerSender = 100_000

	// writeTimeout bounds one send. A server that stops reading makes the
	// write block once the socket buffers are full; the sender gives up
	// instead of hanging the run (and the client counts as disconnected).
	writeTimeout = 5 * time.Second
)

// send runs the sending period and the drain after it.
func (r *run) send(ctx context.Context) *summary {
	cfg := r.cfg
	interval := cfg.interval()
	r.sendStart = time.Now()
	r.phase.Store(phaseSending) // after sendStart: the progress printer reads it
	end := r.sendStart.Add(cfg.duration)
	drainEnd := end.Add(cfg.drain)

	sendCtx, stop := context.WithDeadline(ctx, end)
	defer stop()
	var wg sync.WaitGroup
	for k := range cfg.senders {
		// Sender k starts k/senders of an interval after sender 0, so that
		// together they send evenly rather than all on the same tick.
		first := r.sendStart.Add(interval * time.Duration(k) / time.Duration(cfg.senders))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Clients are spread over the servers (rooms.go), so the first
			// ones, the senders, are too.
			r.sendLoop(sendCtx, r.clients[k], k, first, end, drainEnd, interval)
		}()
	}
	wg.Wait() // by end, or at the latest drainEnd (the write deadline)
	sendTime := time.Since(r.sendStart)
	if sendTime > cfg.duration {
		sendTime = cfg.duration // a write that finished late sent nothing new
	}

	// The drain: wait until every client has every message sent to its
	// room, or drainEnd.
	r.phase.Store(phaseDraining)
	sent := r.sent.Load()
	for room := range r.target {
		r.target[room].Store(r.sentTo[room].Load())
	}
	for _, c := range r.clients {
		// Readers settle themselves when a frame brings them to the target;
		// these got there before the target was known.
		if c.received.Load() >= r.target[c.room].Load() {
			r.settle(c)
		}
	}
	drain := time.NewTimer(time.Until(drainEnd))
	defer drain.Stop()
	select {
	case <-r.allSettled:
	case <-drain.C:
	case <-ctx.Done():
	}
	return &summary{Sent: sent, sendTime: sendTime, Interrupted: ctx.Err() != nil}
}

// sendLoop is one sender: a message at first, then one per interval, until
// end. A ticker drops ticks when the sender falls behind, so a slow write
// never turns into a burst of catch-up messages.
func (r *run) sendLoop(ctx context.Context, c *client, sender int, first, end, drainEnd time.Time, interval time.Duration) {
	wait := time.NewTimer(time.Until(first))
	select {
	case <-ctx.Done():
		wait.Stop()
		return
	case <-wait.C:
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()

	var buf []byte
	room := r.senderRoom[sender]
	for seq := int64(0); seq < r.maxSeq; seq++ {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		buf = r.encode(room, appendPayload(buf[:0], r.prefix, sender, seq, now.UnixNano()))
		// A message still being written at drainEnd would arrive too late
		// to count anyway; the deadline also keeps the run bounded.
		deadline := now.Add(writeTimeout)
		if deadline.After(drainEnd) {
			deadline = drainEnd
		}
		c.conn.SetWriteDeadline(deadline)
		if err := c.conn.WriteMessage(websocket.TextMessage, buf); err != nil {
			r.connectionEnded(c, fmt.Errorf("sending: %w", err))
			c.conn.Close() // its reader stops too
			return
		}
		r.sentTo[room].Add(1)
		r.sent.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// hold keeps idle connections open for the duration (-senders 0).
func (r *run) hold(ctx context.Context) *summary {
	r.phase.Store(phaseHolding)
	fmt.Fprintf(r.log, "loadtest: holding %d idle connections for %v\n", r.cfg.clients, r.cfg.duration)
	timer := time.NewTimer(r.cfg.duration)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	return &summary{Interrupted: ctx.Err() != nil}
}
