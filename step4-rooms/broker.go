package main

// This file is a convenience, not the lesson: with REDIS_URL unset, the first
// instance that finds no Redis at localhost:6379 starts an embedded one
// (miniredis) there for all; when it stops, the next one takes over.

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

// embeddedMarker is a key the embedded Redis holds: only a Redis that has
// it is ever taken over, never somebody's real one.
const embeddedMarker = "pubsub-chat:embedded-broker"

// broker is the embedded Redis that this process may host.
type broker struct {
	addr   string
	mu     sync.Mutex
	server *miniredis.Miniredis // while this process hosts it
	closed bool                 // for good
}

// connectFallback returns a client for the Redis at opts.Addr, embedded if need be.
func connectFallback(opts *redis.Options) (*redis.Client, *broker, error) {
	b := &broker{addr: opts.Addr}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	probe := redis.NewClient(opts)
	embedded, err := probe.Exists(ctx, embeddedMarker).Result()
	probe.Close()
	cancel()
	switch {
	case err == nil && embedded == 1:
		log.Printf("using the embedded Redis that another instance hosts at %s", opts.Addr)
	case err == nil || !strings.Contains(err.Error(), "connection refused"):
		// A real Redis, or one we cannot use as it is: the subscription says why.
		log.Printf("using Redis at %s", opts.Addr)
		return redis.NewClient(opts), nil, nil
	case b.host():
		log.Printf("no Redis at %s: started an embedded one there for development (set REDIS_URL to use a real Redis)", opts.Addr)
	default:
		log.Printf("using the embedded Redis that another instance has just started at %s", opts.Addr)
	}
	// A dial that finds nobody means the host has stopped: host it here.
	dialer := &net.Dialer{Timeout: opts.DialTimeout}
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil && b.host() {
			log.Printf("the embedded Redis at %s went away: this instance hosts a new one there", addr)
			return dialer.DialContext(ctx, network, addr)
		}
		return conn, err
	}
	return redis.NewClient(opts), b, nil
}

// host starts the embedded Redis, unless b is closed or the address taken.
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

// close stops the embedded Redis, if this process hosts it. A nil b is fine.
func (b *broker) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.server != nil {
		b.server.Close()
		b.server = nil
		log.Printf("stopped the embedded Redis at %s", b.addr)
	}
}
