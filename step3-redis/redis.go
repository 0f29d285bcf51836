package main

// This file is what the instance does when Redis is not simply there; a
// first read can skip it. With Redis up, connectRedis is redis.NewClient
// and receive is ps.Receive. When Redis goes away, go-redis reconnects and
// subscribes again by itself; receive logs the cause once, and marks the
// subscription lost, so that publish refuses messages meanwhile.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// defaultRedisAddr is Redis's own default address: where we look for it
// when REDIS_URL is unset, and where the embedded one starts.
const defaultRedisAddr = "localhost:6379"

var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed our subscription")

// connectRedis returns a client for redisURL or, if it is empty, for the
// Redis at fallbackAddr, maybe the embedded one (broker.go). Commands end when
// their context says, and none is sent twice: a lost answer is no proof.
func connectRedis(redisURL, fallbackAddr string) (*redis.Client, *broker, error) {
	opts, err := redis.ParseURL(cmp.Or(redisURL, "redis://"+fallbackAddr))
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled, opts.MaxRetries, opts.DialerRetries, opts.DialTimeout = true, -1, 1, time.Second
	if redisURL != "" {
		log.Printf("using Redis at %s", opts.Addr)
		return redis.NewClient(opts), nil, nil
	}
	return connectFallback(opts)
}

// receive returns the next message or subscription confirmation from h.ps,
// or an error once h.ps is closed.
func (h *hub) receive() (any, error) {
	reported := false
	for {
		// Unconfirmed, ask again every 3 s: rarely, after an outage, go-redis's
		// own SUBSCRIBE never reaches Redis. Subscribed, wait without a
		// deadline: one that struck in the middle of a message would garble it.
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = 3 * time.Second
		}
		msg, err := h.ps.ReceiveTimeout(context.Background(), wait)
		var netErr net.Error
		switch {
		case err == nil:
			return msg, nil
		case errors.Is(err, redis.ErrClosed) || errors.Is(err, net.ErrClosed):
			return nil, err // closed by shutdown
		case errors.As(err, &netErr) && netErr.Timeout():
			err = errors.New("it has not confirmed our SUBSCRIBE")
			h.ps.Subscribe(context.Background(), chatChannel)
		default:
			h.setSubscribed(false)
			time.Sleep(500 * time.Millisecond)
		}
		if !reported { // once per outage
			log.Printf("no subscription at Redis %s: %v; retrying until it is back", h.rdb.Options().Addr, err)
			reported = true
		}
	}
}

// setSubscribed records whether Redis has confirmed our subscription, and
// reports whether it had. Every page hears of a change.
func (h *hub) setSubscribed(on bool) (was bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was, h.subscribed = h.subscribed, on
	if on != was {
		if on {
			log.Printf("subscribed to Redis channel %q: Redis confirmed", chatChannel)
		}
		for c := range h.clients {
			h.queue(c, redisState(on))
		}
	}
	return was
}

func (h *hub) isSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribed
}

// notSent is what the sender of a failed message hears: "not sent", or, if
// the PUBLISH went out and no answer came, that it may still arrive; Redis
// is then hung or cut off, and we ask it to confirm our subscription again.
func (h *hub) notSent(err error) []byte {
	var opErr *net.OpError
	var redisErr redis.Error
	if errors.Is(err, errNotSubscribed) || errors.As(err, &opErr) && opErr.Op == "dial" || errors.As(err, &redisErr) {
		return notice("Your last message was not sent: Redis is unavailable. Try again in a moment.")
	}
	if h.setSubscribed(false) {
		log.Printf("PUBLISH to Redis %s: %v; refusing messages until it confirms our subscription", h.rdb.Options().Addr, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.ps.Subscribe(ctx, chatChannel)
	}
	return notice("Your last message could not be confirmed: Redis did not answer. It may still arrive.")
}

// go-redis logs every failed dial, several times a second while Redis is
// down; receive says it once.
func init() { logging.Disable() }
