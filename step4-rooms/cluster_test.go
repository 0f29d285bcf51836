package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// On a cluster: these tests skip unless REDIS_TEST_URL names one, or run one
// of their own (startCluster).

// masterOf is the address of the master that owns channel's slot, as c knows it.
func masterOf(t *testing.T, c clusterClient, channel string) string {
	t.Helper()
	m, err := c.MasterForKey(context.Background(), channel)
	if err != nil {
		t.Fatal(err)
	}
	return m.Options().Addr
}

// masters is the addresses of the cluster's masters that have slots.
func masters(t *testing.T, c clusterClient) []string {
	t.Helper()
	var addrs []string
	slots, err := c.ClusterSlots(context.Background()).Result()
	for _, s := range slots {
		if !slices.Contains(addrs, s.Nodes[0].Addr) {
			addrs = append(addrs, s.Nodes[0].Addr)
		}
	}
	if err != nil || len(addrs) < 3 {
		t.Fatalf("masters %q, %v; want three at least", addrs, err)
	}
	return addrs
}

// roomsOn names a room for each master of the cluster that c knows, its
// address the key, but none on a master in avoid.
func roomsOn(t *testing.T, c clusterClient, avoid ...string) map[string]string {
	t.Helper()
	rooms := make(map[string]string)
	for i, n := 0, len(masters(t, c))-len(avoid); len(rooms) < n; i++ {
		room := fmt.Sprint("room", i)
		if m := masterOf(t, c, roomPrefix+room+roomTag(t)); !slices.Contains(avoid, m) && rooms[m] == "" {
			rooms[m] = room
		}
	}
	return rooms
}

// Each room's channel is a shard channel, kept on the master that owns its
// slot: rooms on different masters, each subscribed there alone, and none
// on classic Pub/Sub, which a cluster copies to every node.
func TestRoomsSpreadOverTheMasters(t *testing.T) {
	r := newTestRedis(t)
	if !r.cluster {
		t.Skip("skipped: REDIS_TEST_URL does not name a Redis Cluster")
	}
	ctx, c := context.Background(), r.direct.(clusterClient)
	rooms := roomsOn(t, c)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	for _, room := range rooms {
		alice.join(room)
		bob.join(room)
		alice.say(room, "hello "+room)
		bob.expectMessage(room, "hello "+room)
		alice.expectMessage(room, "hello "+room)
	}
	for addr, room := range rooms {
		node := redis.NewClient(&redis.Options{Addr: addr})
		defer node.Close()
		got, err := node.PubSubShardChannels(ctx, "room:*"+roomTag(t)).Result()
		if want := []string{roomPrefix + room + roomTag(t)}; err != nil || !slices.Equal(got, want) {
			t.Errorf("PUBSUB SHARDCHANNELS on %s: %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, addr := range r.nodes {
		node := redis.NewClient(&redis.Options{Addr: addr})
		defer node.Close()
		if got, err := node.PubSubChannels(ctx, "room:*"+roomTag(t)).Result(); err != nil || len(got) > 0 {
			t.Errorf("PUBSUB CHANNELS on %s: %q, %v; want no room on classic Pub/Sub", addr, got, err)
		}
	}
}

// REDIS_URL may name any node of a cluster, which is found out and said;
// but not a database other than 0: a cluster has no other.
func TestAClusterIsFoundAndItsDatabase0Only(t *testing.T) {
	r := newTestRedis(t)
	if !r.cluster {
		t.Skip("skipped: REDIS_TEST_URL does not name a Redis Cluster")
	}
	n := len(masters(t, r.direct.(clusterClient)))
	for _, node := range r.nodes {
		logs := captureLog(t)
		rdb, b, err := connectRedis("redis://"+node, defaultRedisAddr)
		if _, ok := rdb.(clusterClient); !ok || b != nil || err != nil {
			t.Fatalf("REDIS_URL=redis://%s: %T, %v, %v; want a cluster client", node, rdb, b, err)
		}
		rdb.Close()
		if want := fmt.Sprintf("using Redis Cluster with %d masters, through %s\n", n, node); !strings.HasSuffix(logs.String(), want) {
			t.Errorf("log %q, want %q", logs, want)
		}
	}
	if _, _, err := connectRedis("redis://"+r.nodes[0]+"/3", defaultRedisAddr); err == nil || !strings.Contains(err.Error(), "database 3: a Redis Cluster has only database 0") {
		t.Errorf("REDIS_URL with database 3 on a cluster: %v; want it refused", err)
	}
}

// With REDIS_URL set, a server waits until Redis says whether it is a
// cluster, and says so once, rather than guess.
func TestAServerWaitsForRedisToSayWhatItIs(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	logs := captureLog(t)
	got := make(chan redis.UniversalClient)
	go func() {
		rdb, _, _ := connectRedis("redis://"+addr, defaultRedisAddr)
		got <- rdb
	}()
	waitFor(t, "the server to say it waits", func() bool { return strings.Contains(logs.String(), "waiting for Redis at "+addr) })
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	select {
	case rdb := <-got:
		if _, ok := rdb.(*redis.Client); !ok {
			t.Errorf("got %T, want a client for a single Redis", rdb)
		}
		rdb.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting 10 s after Redis answered")
	}
	if n := len(linesWith(logs.String(), "waiting")); n != 1 {
		t.Errorf("%d log lines say it waits, want 1:\n%s", n, logs)
	}
}

// A room's subscription breaks on its master (CLIENT KILL), or its slot
// changes master, by resharding or when its master dies (kill -9, its
// replica taking over): the room comes back, and its members hear "down"
// then "up"; the members of a room on another master hear nothing. (On a
// cluster of the test's own: no other test sees it.)
func TestARoomComesBackWhereverItsSlotGoes(t *testing.T) {
	nodes := startCluster(t)
	byAddr := make(map[string]*redisServer)
	for _, n := range nodes {
		byAddr[n.addr] = n
	}
	url := "redis://" + nodes[0].addr
	a, b := startInstance(t, clientFor(t, url)), startInstance(t, clientFor(t, url))
	ctx := context.Background()

	// check has fault break a room's subscription on its master, from, maybe
	// moving its slot to to, the master of a room that stays.
	check := func(t *testing.T, fault func(room, from, to string)) {
		c := clientFor(t, url).(clusterClient)
		defer c.Close()
		// Neither room on broadcast's master: only the room broken is touched.
		var moving, staying, from, to string
		for m, room := range roomsOn(t, c, masterOf(t, c, broadcastChannel)) {
			if moving == "" {
				moving, from = room, m
			} else {
				staying, to = room, m
			}
		}
		alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
		carol, dave := connect(t, a, "carol"), connect(t, b, "dave")
		alice.join(moving)
		bob.join(moving)
		carol.join(staying)
		dave.join(staying)

		start := time.Now()
		fault(moving, from, to)
		for _, m := range []*testClient{alice, bob} {
			m.expectRedis("down", moving)
			m.expectRedis("up", moving)
		}
		t.Logf("%s was back %v after the fault", moving, time.Since(start).Round(10*time.Millisecond))
		bob.say(moving, "back")
		alice.expectMessage(moving, "back")
		bob.expectMessage(moving, "back")
		carol.say(staying, "never gone") // the first thing carol and dave hear
		carol.expectMessage(staying, "never gone")
		dave.expectMessage(staying, "never gone")
	}

	t.Run("client kill", func(t *testing.T) {
		check(t, func(room, from, to string) {
			must(t, byAddr[from].direct.ClientKillByFilter(ctx, "TYPE", "pubsub").Err())
		})
	})
	t.Run("resharding", func(t *testing.T) {
		check(t, func(room, from, to string) {
			// CLUSTER SETSLOT, as redis-cli --cluster reshard moves a slot,
			// with its keys (an exercise's).
			src, dst := byAddr[from], byAddr[to]
			slot := src.direct.ClusterKeySlot(ctx, roomPrefix+room+roomTag(t)).Val()
			srcID, dstID := src.direct.ClusterMyID(ctx).Val(), dst.direct.ClusterMyID(ctx).Val()
			must(t, dst.direct.Do(ctx, "cluster", "setslot", slot, "importing", srcID).Err())
			must(t, src.direct.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err())
			host, port, _ := net.SplitHostPort(dst.addr)
			for _, key := range src.direct.ClusterGetKeysInSlot(ctx, int(slot), 1000).Val() {
				must(t, src.direct.Migrate(ctx, host, port, key, 0, 5*time.Second).Err())
			}
			for _, n := range append([]*redisServer{dst, src}, nodes...) {
				n.direct.Do(ctx, "cluster", "setslot", slot, "node", dstID) // replicas refuse: they learn it
			}
		})
	})
	t.Run("failover", func(t *testing.T) {
		check(t, func(room, from, to string) { byAddr[from].process.Kill() })
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
