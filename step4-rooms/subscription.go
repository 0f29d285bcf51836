package main

// This file keeps the subscription alive while Redis comes and goes. A
// first read can skip it: with Redis up, receive is just ps.Receive. When
// Redis goes away, go-redis reconnects and subscribes again, to every
// channel, by itself; receive waits between attempts, says once that the
// subscription is lost, and marks every room unconfirmed, so that publish
// refuses messages meanwhile and members hear "joined" again.
//
// Pub/Sub is at-most-once: Redis keeps nothing for a subscriber that is
// not connected, so what is published while we are cut off never reaches
// our clients. (Redis Streams keep history when that matters.)

import (
	"context"
	"errors"
	"log"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// maxRetryDelay caps the wait between attempts to reach a Redis that is
	// down: short enough to notice it is back quickly, long enough not to
	// spin while it is gone.
	maxRetryDelay = 2 * time.Second

	// confirmWait is how long receive waits for Redis to confirm the
	// broadcast channel before it asks again for every channel we want.
	// Rarely, after Redis comes back, go-redis's own SUBSCRIBE on the new
	// connection never reaches it; asking again is harmless, since Redis
	// ignores a SUBSCRIBE to a channel we already have.
	confirmWait = 3 * time.Second
)

// receive returns the next message or subscription answer from h.ps. It
// returns an error only once h.ps is closed.
func (h *hub) receive() (any, error) {
	delay := 100 * time.Millisecond
	for {
		// Until Redis has confirmed the broadcast channel (at start, after
		// an outage), wait at most confirmWait, then ask again. Once
		// subscribed, wait without a deadline: one that struck mid-message
		// would garble it.
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = confirmWait
		}
		msg, err := h.ps.ReceiveTimeout(context.Background(), wait)
		if errors.Is(err, redis.ErrClosed) {
			return nil, err
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
		return msg, nil
	}
}

func (h *hub) isSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribed
}

// quietLogger discards go-redis's own log lines: it logs every failed dial,
// several times a second while Redis is down, and receive says it once.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
