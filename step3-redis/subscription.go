package main

// This file keeps the subscription alive while Redis comes and goes. A
// first read can skip it: with Redis up, receive is just ps.Receive. When
// Redis goes away, go-redis reconnects and subscribes again by itself;
// receive waits between attempts, says once that the subscription is lost,
// and marks it lost, so that publish refuses messages meanwhile.
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

	// confirmWait is how long receive waits for Redis to confirm a SUBSCRIBE
	// before it sends it again. Rarely, after Redis comes back, go-redis's
	// own SUBSCRIBE on the new connection never reaches it; asking again is
	// harmless, since Redis ignores a SUBSCRIBE to a channel we already have.
	confirmWait = 3 * time.Second
)

// errNotSubscribed refuses a message while our subscription is down.
var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed our subscription")

// receive returns the next message or subscription confirmation from h.ps.
// It returns an error only once h.ps is closed.
func (h *hub) receive() (any, error) {
	delay := 100 * time.Millisecond
	for {
		// Until Redis has confirmed the subscription, wait at most
		// confirmWait, then ask again. Once subscribed, wait without a
		// deadline: one that struck mid-message would garble it.
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = confirmWait
		}
		msg, err := h.ps.ReceiveTimeout(context.Background(), wait)
		if errors.Is(err, redis.ErrClosed) {
			return nil, err
		}
		if netErr := net.Error(nil); errors.As(err, &netErr) && netErr.Timeout() {
			h.ps.Subscribe(context.Background(), chatChannel)
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
		return msg, nil
	}
}

// setSubscribed records whether Redis has confirmed our subscription, and
// reports whether that was already so. It logs the confirmation.
func (h *hub) setSubscribed(on bool) (was bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was, h.subscribed = h.subscribed, on
	if on && !was {
		log.Printf("subscribed to Redis channel %q: Redis confirmed", chatChannel)
	}
	return was
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
