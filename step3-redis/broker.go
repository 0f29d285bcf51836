package main

// This file is a convenience for development, not part of the lesson: it
// lets the workshop run on a laptop with no Redis, and does nothing when
// REDIS_URL is set. The first instance that finds nothing at localhost:6379
// starts an embedded Redis (miniredis) there, for the others too; if it
// stops, the next instance that cannot reach it starts a new one there.

import (
	"context"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// embeddedMarker is a key the embedded Redis holds, so that an instance can
// tell it from a real Redis: only an embedded one is ever taken over.
const embeddedMarker = "pubsub-chat:embedded-broker"

// broker is the embedded Redis that this process may host.
type broker struct {
	addr   string
	mu     sync.Mutex
	server *miniredis.Miniredis // while this process hosts it
	closed bool                 // shutting down: host no more
}

// connectFallback returns a client for the Redis at opts.Addr. A real one
// is used as it is (the broker is then nil); an embedded one, this instance
// starts if nothing is there yet, and takes over when its host stops.
func connectFallback(opts *redis.Options) (*redis.Client, *broker) {
	b := &broker{addr: opts.Addr}
	probe := redis.NewClient(&redis.Options{Addr: opts.Addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	embedded, err := probe.Exists(context.Background(), embeddedMarker).Result()
	probe.Close()
	switch {
	case err == nil && embedded == 1:
		log.Printf("using the embedded Redis that another instance hosts at %s", opts.Addr)
	case err == nil || !strings.Contains(err.Error(), "connection refused"):
		// A real Redis, or a server that we cannot use as it is (a Redis
		// that wants a password, say): the subscription will say why.
		log.Printf("using Redis at %s", opts.Addr)
		return redis.NewClient(opts), nil
	case b.host():
		log.Printf("no Redis at %s: started an embedded one there for development (set REDIS_URL to use a real Redis)", opts.Addr)
	default:
		log.Printf("using the embedded Redis that another instance has just started at %s", opts.Addr)
	}
	// When the embedded Redis cannot be reached, its host has stopped: host
	// it here. go-redis then reconnects, as after any outage.
	dialer := &net.Dialer{Timeout: opts.DialTimeout}
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil && b.host() {
			log.Printf("the embedded Redis at %s went away: this instance hosts a new one there", addr)
			return dialer.DialContext(ctx, network, addr)
		}
		return conn, err
	}
	return redis.NewClient(opts), b
}

// host starts the embedded Redis on b.addr, unless the address is taken
// (by another instance that got there first, say) or b is closed.
func (b *broker) host() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.server != nil {
		return false
	}
	m := miniredis.NewMiniRedis()
	if m.StartAddr(b.addr) != nil {
		return false
	}
	m.Set(embeddedMarker, "1")
	b.server = m
	return true
}

// close stops the embedded Redis if this process hosts it, or else, if
// stop is false, only keeps this process from hosting one from now on. It
// is safe on a nil broker.
func (b *broker) close(stop bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if stop && b.server != nil {
		b.server.Close()
		b.server = nil
		log.Printf("stopped the embedded Redis at %s", b.addr)
	}
}
