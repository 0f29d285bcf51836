package main

// This file runs the hub on a Redis Cluster; a first read can skip it. A
// cluster copies a classic PUBLISH to every node; a shard channel (SPUBLISH)
// stays on its slot's master: each room's is one. go-redis ties a PubSub to
// one master, and resubscribes all its shard channels at once, which fails
// unless they share a slot: so each room has a PubSub, and a relay, of its
// own. Announcements stay classic: all want them, and any node carries them.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscription is a *redis.PubSub; on a cluster, shards, or a room's shard.
type subscription interface {
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	ReceiveTimeout(ctx context.Context, timeout time.Duration) (any, error)
	Close() error
}

var errSlotMoved = errors.New("the room's slot moved to another master")

// connectCluster returns a client for the cluster that opts names, or nil
// for a single Redis (miniredis refuses INFO cluster); a server (wait) waits
// for Redis to say. REDIS_PUBSUB=classic keeps classic Pub/Sub, to compare.
func connectCluster(opts *redis.Options, wait bool) (redis.UniversalClient, error) {
	probe := *opts
	probe.DB = 0 // a cluster refuses SELECT
	rdb := redis.NewClient(&probe)
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "cluster").Result()
	for logged, redisErr := false, redis.Error(nil); wait && err != nil && !errors.As(err, &redisErr); logged = true {
		if !logged {
			log.Printf("waiting for Redis at %s to answer (is it a cluster?): %v", opts.Addr, err)
		}
		time.Sleep(time.Second)
		info, err = rdb.Info(context.Background(), "cluster").Result()
	}
	if !strings.Contains(info, "cluster_enabled:1") || os.Getenv("REDIS_PUBSUB") == "classic" {
		return nil, nil
	} else if opts.DB != 0 {
		return nil, fmt.Errorf("REDIS_URL: database %d: a Redis Cluster has only database 0", opts.DB)
	}
	log.Printf("using Redis Cluster with %d masters, through %s", len(rdb.ClusterShards(context.Background()).Val()), opts.Addr)
	// As on one Redis, nothing is sent twice: a MOVED comes back as an error.
	// go-redis asks where the slots are on a MOVED, or once its map is older
	// than ClusterStateReloadInterval: by default, it dials a dead master a minute.
	return clusterClient{redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{opts.Addr}, Dialer: opts.Dialer,
		Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLSConfig, ContextTimeoutEnabled: true,
		MaxRedirects: -1, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second, ClusterStateReloadInterval: time.Second})}, nil
}

// clusterClient sends a room's message with SPUBLISH, to its slot's master.
type clusterClient struct{ *redis.ClusterClient }

func (c clusterClient) Publish(ctx context.Context, channel string, msg any) *redis.IntCmd {
	if strings.HasPrefix(channel, roomPrefix) {
		return c.SPublish(ctx, channel, msg)
	}
	return c.ClusterClient.Publish(ctx, channel, msg)
}

// addrOf names rdb's Redis in the log; on a cluster, with the channel concerned.
func addrOf(rdb redis.UniversalClient, channel string) string {
	if c, ok := rdb.(clusterClient); ok {
		return fmt.Sprintf("Cluster %s (%s)", c.Options().Addrs[0], channel)
	}
	return rdb.(*redis.Client).Options().Addr
}

// shards is the hub's subscription on a cluster: the classic PubSub, and a
// shard per room (h.mu). Closing the hub's client closes the shards too.
type shards struct {
	*redis.PubSub
	h     *hub
	rooms map[string]*shard
}

// shard is a room's PubSub, and the end of its relay.
type shard struct {
	*redis.PubSub
	channel string
	done    chan struct{}
}

func (sh *shard) Subscribe(ctx context.Context, _ ...string) error {
	return sh.SSubscribe(ctx, sh.channel)
}

func sharded(h *hub) *hub {
	if _, ok := h.rdb.(clusterClient); ok {
		h.ps = &shards{PubSub: h.ps.(*redis.PubSub), h: h, rooms: make(map[string]*shard)}
	}
	return h
}

// Subscribe starts a room's PubSub and its relay, which subscribes off subMu
// (a new connection takes round trips); asked again, it asks Redis again.
func (s *shards) Subscribe(ctx context.Context, channels ...string) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if sh := s.rooms[channels[0]]; sh != nil {
		go sh.Subscribe(context.Background())
		return nil
	}
	sh := &shard{s.h.rdb.(clusterClient).SSubscribe(ctx), channels[0], make(chan struct{})}
	s.rooms[sh.channel] = sh
	go func() {
		defer close(sh.done)
		sh.Subscribe(context.Background())
		s.h.relay(sh)
	}()
	return nil
}

// Unsubscribe closes a room's PubSub, which ends its subscription, and waits
// for its relay: none of its answers counts after that (lost).
func (s *shards) Unsubscribe(ctx context.Context, channels ...string) error {
	s.h.mu.Lock()
	sh := s.rooms[channels[0]]
	delete(s.rooms, channels[0])
	s.h.mu.Unlock()
	if sh != nil {
		sh.Close()
		<-sh.done
		s.h.lost(channels)
	}
	return nil
}

// renew replaces a room's PubSub that Redis refused (MOVED) or left
// (resharding): its connection is to a master that no longer has the slot.
func (h *hub) renew(ps subscription, err error) {
	var redisErr redis.Error
	if sh, ok := ps.(*shard); ok && (errors.As(err, &redisErr) || errors.Is(err, errSlotMoved)) {
		go func() {
			h.subMu.Lock()
			defer h.subMu.Unlock()
			h.mu.Lock()
			current := h.ps.(*shards).rooms[sh.channel] == sh // not closed or replaced since
			h.mu.Unlock()
			if current {
				h.ps.Unsubscribe(context.Background(), sh.channel)
				h.changeSubscription(h.ps.Subscribe, sh.channel)
			}
		}()
	}
}
