package main

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// Pub/Sub delivers at most once: while an instance's subscription is
// broken, what is published never reaches it. These tests break it the
// ways Redis breaks it, and check that each client that may have missed
// messages hears "down", with its rooms, and "up" once they are back.

// expectRedis reads the next event and checks it says Redis is state, for rooms.
func (c *testClient) expectRedis(state string, rooms ...string) {
	c.t.Helper()
	ev := c.next()
	if ev.Type != "redis" || ev.State != state || !slices.Equal(ev.Rooms, rooms) {
		c.t.Fatalf("%s: got %+v, want Redis %s for rooms %q", c.name, ev, state, rooms)
	}
}

// expectInAnyOrder reads the next len(want) events and checks they are
// want, in whatever order they come. (A message's user, ts, id and via are
// not compared.)
func (c *testClient) expectInAnyOrder(want ...event) {
	c.t.Helper()
	key := func(ev event) string {
		return string(event{Type: ev.Type, Room: ev.Room, Text: ev.Text, Error: ev.Error, State: ev.State, Rooms: ev.Rooms}.encode())
	}
	left := make([]string, len(want))
	for i, ev := range want {
		left[i] = key(ev)
	}
	for range want {
		ev := c.next()
		i := slices.Index(left, key(ev))
		if i < 0 {
			c.t.Fatalf("%s: got %+v, want one of %q", c.name, ev, left)
		}
		left = slices.Delete(left, i, i+1)
	}
}

// ups are the "up" events that a client in rooms hears as Redis confirms
// again what it lost: one per room and, when the broadcast channel was lost
// too (a single Redis loses everything at once), one for announcements.
func ups(broadcastToo bool, rooms ...string) []event {
	var want []event
	if broadcastToo {
		want = append(want, event{Type: "redis", State: "up"})
	}
	for _, room := range rooms {
		want = append(want, event{Type: "redis", State: "up", Rooms: []string{room}})
	}
	return want
}

// expectDown reads what a client in rooms hears when the whole of Redis
// goes away: one "down", with its rooms; on a cluster, one per lost
// subscription: announcements' (no room), and each room's.
func (c *testClient) expectDown(r *testRedis, rooms ...string) {
	c.t.Helper()
	if !r.cluster {
		c.expectRedis("down", rooms...)
		return
	}
	want := []event{{Type: "redis", State: "down"}}
	for _, room := range rooms {
		want = append(want, event{Type: "redis", State: "down", Rooms: []string{room}})
	}
	c.expectInAnyOrder(want...)
}

// CLIENT KILL TYPE pubsub ends every subscriber connection, as a Redis
// restart does: both instances subscribe again, and their clients hear of
// the gap, each with its own rooms.
func TestClientsHearWhenTheSubscriptionIsKilled(t *testing.T) {
	srv := startRedisServer(t)
	a, b := startInstance(t, clientFor(t, "redis://"+srv.addr)), startInstance(t, clientFor(t, "redis://"+srv.addr))
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	alice.join("lobby")
	alice.join("kitchen")
	bob.join("lobby")

	n, err := srv.direct.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
	if err != nil || n != 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v; want the two instances' subscriptions", n, err)
	}
	alice.expectRedis("down", "kitchen", "lobby")
	bob.expectRedis("down", "lobby")
	alice.expectInAnyOrder(ups(true, "kitchen", "lobby")...)
	bob.expectInAnyOrder(ups(true, "lobby")...)

	bob.say("lobby", "back")
	alice.expectMessage("lobby", "back")
	bob.expectMessage("lobby", "back")
	alice.say("kitchen", "here too")
	alice.expectMessage("kitchen", "here too")
}

// A subscriber that reads too slowly is disconnected by Redis once its
// output buffer passes client-output-buffer-limit: here, a proxy that has
// stopped reading what Redis sends, while a room's channel carries 64 KB
// payloads (which the instance drops as malformed). Once the proxy reads
// again, the instance finds its subscription gone, and its clients hear of
// the gap.
func TestClientsHearWhenRedisDropsASlowSubscriber(t *testing.T) {
	srv := startRedisServer(t)
	ctx := context.Background()
	if err := srv.direct.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 256kb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, srv.addr)
	a := startInstance(t, clientFor(t, "redis://"+p.addr()))
	alice, carol := connect(t, a, "alice"), connect(t, a, "carol")
	alice.join("lobby")
	carol.join("lobby")
	if n := srv.subscribers(t); n != 1 {
		t.Fatalf("%d subscribers, want the instance's", n)
	}

	p.stall(true)
	filler := `{"type":"filler","pad":"` + strings.Repeat("x", 64<<10) + `"}`
	// What the kernel buffers between Redis and the proxy (a few MB) comes
	// first; then Redis's output buffer for the subscriber fills.
	for sent := 0; srv.subscribers(t) > 0; sent += len(filler) {
		if sent > 64<<20 {
			t.Fatalf("after %d MB published, Redis still has the stalled subscriber", sent>>20)
		}
		srv.direct.Publish(ctx, roomPrefix+"lobby"+roomTag(t), filler)
	}
	waitFor(t, "Redis to log that the subscriber overcame its output buffer limit", func() bool {
		return strings.Contains(srv.log.String(), "output buffer limits")
	})
	p.stall(false)

	alice.expectRedis("down", "lobby")
	carol.expectRedis("down", "lobby")
	alice.expectInAnyOrder(ups(true, "lobby")...)
	carol.expectInAnyOrder(ups(true, "lobby")...)
	alice.say("lobby", "back")
	carol.expectMessage("lobby", "back")
	alice.expectMessage("lobby", "back")
}

// A client in no room hears of the gap too: announcements may be missed. One
// that leaves its only room during the gap hears "up" for what it still has,
// though that room is never confirmed again. One that connects during the
// gap missed nothing: it hears no "down", and only that announcements are back.
func TestTheGapReachesClientsInNoRoomAndEndsForThoseWhoLeave(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	idle, leaver := connect(t, a, "idle"), connect(t, a, "leaver")
	leaver.join("solo")
	waitFor(t, "both clients", func() bool { return numClients(a.hub) == 2 })

	r.stop()
	idle.expectRedis("down")
	leaver.expectDown(r, "solo")
	leaver.sendJSON(request{Type: "leave", Room: "solo"})
	leaver.expect("left", "solo")
	late := connect(t, a, "late")
	late.sendJSON(request{Type: "join", Room: "later"})
	late.expectError("Redis is unavailable")

	r.start(t)
	idle.expectInAnyOrder(ups(true)...)
	leaver.expectInAnyOrder(ups(true)...)
	late.expectInAnyOrder(append(ups(true), event{Type: "joined", Room: "later"})...)
	late.say("later", "first") // the next thing it hears: no other "up" before it
	late.expectMessage("later", "first")
}

// A message on a room's channel passes with a message's fields only: what
// anyone can publish does not speak for the instance.
func TestAMessageOnRedisPassesWithAMessagesFieldsOnly(t *testing.T) {
	ev, ok := fromRedis(roomPrefix+"lobby",
		`{"type":"message","room":"lobby","user":"eve","text":"hi","error":"e","state":"down","rooms":["lobby"]}`)
	if !ok || ev.Error != "" || ev.State != "" || ev.Rooms != nil {
		t.Errorf("passed on %+v, %v; want eve's message, without error, state or rooms", ev, ok)
	}
}
