package main

// This file is a development convenience, not part of the lesson: it lets
// the workshop run on a laptop with no Redis installed. With REDIS_URL set,
// none of it runs.

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

const (
	// defaultRedisAddr is where we look for Redis when REDIS_URL is unset:
	// Redis's own default, which is also where the embedded one starts.
	defaultRedisAddr = "localhost:6379"

	// brokerCheckInterval is how often an instance that relies on another
	// instance's embedded broker checks that it is still there.
	brokerCheckInterval = time.Second

	// embeddedMarker is a key the embedded broker holds, so an instance
	// can tell it from a real Redis: only an embedded one is taken over.
	embeddedMarker = "pubsub-chat:embedded-broker"
)

// broker is the embedded Redis (miniredis) an instance may host, and the
// watch that takes it over when the instance hosting it goes away.
type broker struct {
	addr string

	cancel context.CancelFunc // stops the watch

	mu     sync.Mutex
	server *miniredis.Miniredis // non-nil while this process hosts it
	closed bool                 // close has run: never host again
}

// connectRedis returns a client for redisURL. When redisURL is empty it
// uses fallbackAddr, and if nothing answers there it starts an embedded
// Redis on it for the other instances to find. The broker it returns
// (nil with a real Redis) must be closed after the client.
func connectRedis(redisURL, fallbackAddr string) (*redis.Client, *broker, error) {
	redis.SetLogger(quietLogger{})
	ctx := context.Background()
	if redisURL != "" {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		log.Printf("using Redis at %s", opts.Addr)
		return redis.NewClient(opts), nil, nil
	}

	rdb := redis.NewClient(&redis.Options{Addr: fallbackAddr})
	b := &broker{addr: fallbackAddr}
	switch {
	case answers(ctx, fallbackAddr):
		if rdb.Exists(ctx, embeddedMarker).Val() == 0 {
			log.Printf("using Redis at %s", fallbackAddr)
			return rdb, nil, nil
		}
		log.Printf("using the embedded Redis that another instance hosts at %s", fallbackAddr)
	case b.host():
		log.Printf("no Redis at %s: started an embedded one there for development (set REDIS_URL to use a real Redis)", fallbackAddr)
	default:
		// Another instance bound the address between our ping and now.
		log.Printf("using the embedded Redis that another instance just started at %s", fallbackAddr)
	}

	watchCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.watch(watchCtx)
	return rdb, b, nil
}

// answers reports whether a Redis answers at addr, trying just once: the
// regular client retries for a second or so, which is right for commands
// but only slows down this question.
func answers(ctx context.Context, addr string) bool {
	probe := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer probe.Close()
	return probe.Ping(ctx).Err() == nil
}

// host tries to start the embedded Redis on b.addr; it fails if the
// address is taken, for example by another instance that got there first.
func (b *broker) host() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(b.addr); err != nil {
		return false
	}
	m.Set(embeddedMarker, "1")
	b.server = m
	return true
}

func (b *broker) hosting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.server != nil
}

// watch checks the embedded broker while another instance hosts it; if it
// stops answering, this instance tries to host a new one at the same
// address. Our clients reconnect to it by themselves, like after any outage.
func (b *broker) watch(ctx context.Context) {
	ticker := time.NewTicker(brokerCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if b.hosting() || answers(ctx, b.addr) {
			continue
		}
		if b.host() {
			log.Printf("the embedded Redis at %s went away: this instance hosts a new one there", b.addr)
		}
	}
}

// stopWatching ends the watch, so a shutting-down instance does not start
// a broker on its way out. It is safe on a nil broker.
func (b *broker) stopWatching() {
	if b != nil && b.cancel != nil {
		b.cancel()
	}
}

// close stops the watch and the embedded Redis, if this process hosts it.
// It is safe on a nil broker.
func (b *broker) close() {
	if b == nil {
		return
	}
	b.stopWatching()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.server != nil {
		b.server.Close()
		b.server = nil
		log.Printf("stopped the embedded Redis at %s", b.addr)
	}
}
