package main

// This file is what the instance does when Redis is not simply there; a
// first read can skip it. With Redis up, connectRedis is redis.NewClient and
// receive is ps.Receive. When Redis goes away, go-redis reconnects and
// subscribes again by itself; receive logs why, once, and marks what was lost.

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

// defaultRedisAddr is Redis's own default: where the embedded one starts too.
const defaultRedisAddr = "localhost:6379"

var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed the room's subscription")

// connectRedis returns a client for redisURL, maybe a Redis Cluster
// (cluster.go), or if it is empty for fallbackAddr, maybe the embedded Redis
// (broker.go). Commands end when their context says, and none is sent twice:
// a lost answer is no proof. A server (fallbackAddr set) waits for Redis.
func connectRedis(redisURL, fallbackAddr string) (redis.UniversalClient, *broker, error) {
	opts, err := redis.ParseURL(cmp.Or(redisURL, "redis://"+fallbackAddr))
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled, opts.MaxRetries, opts.DialerRetries, opts.DialTimeout = true, -1, 1, time.Second
	if redisURL == "" {
		return connectFallback(opts)
	}
	if rdb, err := connectCluster(opts, fallbackAddr != ""); rdb != nil || err != nil {
		return rdb, nil, err
	}
	log.Printf("using Redis at %s", opts.Addr)
	return redis.NewClient(opts), nil, nil
}

// receive returns the next message or answer from ps, or an error once closed.
func (h *hub) receive(ps subscription) (any, error) {
	channel := broadcastChannel // and on a single Redis, every room's
	if sh, ok := ps.(*shard); ok {
		channel = sh.channel // a room's on a cluster (cluster.go)
	}
	reported := false
	for {
		// Unconfirmed, ask again every 3 s: rarely, go-redis's SUBSCRIBE is lost in
		// an outage. Subscribed, no deadline: one mid-message would garble it.
		wait := time.Duration(0)
		if !h.confirmed(channel) {
			wait = 3 * time.Second
		}
		msg, err := ps.ReceiveTimeout(context.Background(), wait)
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "sunsubscribe" {
			err = errSlotMoved // the hub never asks for one: on a cluster, resharding
		}
		var netErr net.Error
		switch {
		case err == nil:
			if _, ok := msg.(*redis.Message); ok {
				h.mu.Lock()
				h.stats.in++
				h.mu.Unlock()
			}
			return msg, nil
		case errors.Is(err, redis.ErrClosed) || errors.Is(err, net.ErrClosed):
			return nil, err // closed by shutdown, or on a cluster by leave
		case errors.As(err, &netErr) && netErr.Timeout():
			err = errors.New("it has not confirmed our SUBSCRIBE")
			ps.Subscribe(context.Background(), h.carried(channel, false)...)
		default:
			h.lost(h.carried(channel, true)) // a single Redis: one connection carried them all
			h.renew(ps, err)                 // on a cluster (cluster.go)
			time.Sleep(500 * time.Millisecond)
		}
		if !reported { // once per outage
			log.Printf("no subscription at Redis %s: %v; retrying until it is back", addrOf(h.rdb, channel), err)
			reported = true
		}
	}
}

// notSent is what the sender of a failed message hears: "not sent", or, if
// the PUBLISH went out unanswered, that it may still arrive; Redis is then
// hung or cut off: we ask it to confirm our subscription again (in subMu).
func (h *hub) notSent(err error, room string) []byte {
	var opErr *net.OpError
	var redisErr redis.Error
	if errors.Is(err, errNotSubscribed) || errors.As(err, &opErr) && opErr.Op == "dial" || errors.As(err, &redisErr) {
		return errorEvent("message not sent: Redis is unavailable, try again in a moment")
	}
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if h.lost(h.carried(roomPrefix+room, true)) {
		log.Printf("PUBLISH to Redis %s: %v; refusing messages until it confirms our subscription", addrOf(h.rdb, roomPrefix+room), err)
		h.ps.Subscribe(context.Background(), h.carried(roomPrefix+room, false)...)
	}
	return errorEvent("message not confirmed: Redis did not answer; it may still arrive")
}

// go-redis logs every failed dial; receive says it once.
func init() { logging.Disable() }
