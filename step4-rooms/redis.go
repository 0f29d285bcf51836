package main

// This file is what the instance does when Redis is not simply there; a
// first read can skip it. With Redis up, connectRedis is redis.NewClient
// and receive is ps.Receive. When Redis goes away, go-redis reconnects and
// subscribes again, to every channel, by itself; receive logs the cause
// once, and marks every room unconfirmed, so that publish refuses messages
// meanwhile.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// defaultRedisAddr is where we look for Redis when REDIS_URL is unset:
	// Redis's own default, which is also where the embedded one starts.
	defaultRedisAddr = "localhost:6379"

	// confirmWait is how long receive waits for Redis to confirm a SUBSCRIBE
	// before it asks again: rarely, after an outage, go-redis's own
	// SUBSCRIBE never reaches Redis.
	confirmWait = 3 * time.Second
)

var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed the room's subscription")

// connectRedis returns a client for redisURL or, if it is empty, for the
// Redis at fallbackAddr, which may be the embedded one (broker.go). The
// broker (nil with a real Redis) must be closed after the client.
//
// Every command ends when its context says (ContextTimeoutEnabled), and
// none is sent again after a failure (MaxRetries): a PUBLISH whose answer
// was lost may have been carried out, and sent again it would be twice.
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
	rdb, b := connectFallback(opts)
	return rdb, b, nil
}

// receive returns the next message or subscription confirmation from h.ps,
// or an error once h.ps is closed.
func (h *hub) receive() (any, error) {
	delay, reported := 100*time.Millisecond, false
	for {
		// Until Redis has confirmed the broadcast channel, wait at most
		// confirmWait. Once subscribed, wait without a deadline: one that
		// struck in the middle of a message would garble it.
		wait := time.Duration(0)
		if !h.isSubscribed() {
			wait = confirmWait
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
			h.ps.Subscribe(context.Background(), h.wantedChannels()...)
		default:
			h.lostSubscription()
			time.Sleep(delay)
			delay = min(2*delay, 2*time.Second)
		}
		if !reported { // once per outage
			log.Printf("no subscription at Redis %s: %s; retrying until it is back", h.rdb.Options().Addr, cause(err))
			reported = true
		}
	}
}

func (h *hub) isSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribed
}

// notSent is what the sender of a message that failed hears: "not sent",
// or, if the PUBLISH went out and no answer came, that it may still
// arrive. Redis is then hung or cut off, so the hub refuses messages until
// receive has had our subscription confirmed again.
func (h *hub) notSent(err error) []byte {
	var opErr *net.OpError
	var redisErr redis.Error
	if errors.Is(err, errNotSubscribed) || errors.As(err, &opErr) && opErr.Op == "dial" || errors.As(err, &redisErr) {
		return errorEvent("message not sent: Redis is unavailable, try again in a moment")
	}
	if h.lostSubscription() {
		log.Printf("PUBLISH to Redis %s: %s; refusing messages until it confirms our subscription", h.rdb.Options().Addr, cause(err))
		// Ask again: Redis's answers, when they come, confirm the subscription.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.ps.Subscribe(ctx, h.wantedChannels()...)
	}
	return errorEvent("message not confirmed: Redis did not answer; it may still arrive")
}

// cause is err, with a hint where Redis's own words are not enough.
func cause(err error) string {
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "NOAUTH") || strings.Contains(msg, "WRONGPASS"):
		return msg + " (REDIS_URL=redis://:PASSWORD@HOST:PORT)"
	case strings.Contains(msg, "can't parse") || strings.Contains(msg, "got unexpected"):
		return msg + " (is that server a Redis?)"
	default:
		return msg
	}
}

// go-redis logs every failed dial, several times a second while Redis is
// down; receive says it once, in our own words.
func init() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
