package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// TestMain keeps the instances' log lines out of the test output, unless -v
// asks for everything: a failing test then shows only why it failed.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		log.SetOutput(io.Discard)
	}
	os.Exit(m.Run())
}

// The tests run against miniredis, or against the real Redis, or Redis
// Cluster, that REDIS_TEST_URL names (CI does all three).

// testRedis is the Redis one test uses, and a way to take it away.
type testRedis struct {
	url     string                // straight to it
	mini    *miniredis.Miniredis  // nil for a real Redis
	cluster bool                  // a Redis Cluster
	nodes   []string              // a real Redis's address; a cluster's, each node's
	proxies proxies               // in front of a real Redis, for instances: to simulate an outage
	direct  redis.UniversalClient // the test's own client, straight to it
}

func newTestRedis(t testing.TB) *testRedis {
	t.Helper()
	r := &testRedis{url: os.Getenv("REDIS_TEST_URL")}
	if r.url == "" {
		r.mini = miniredis.RunT(t)
		r.url = "redis://" + r.mini.Addr()
	}
	opts, err := redis.ParseURL(r.url)
	if err != nil {
		t.Fatalf("REDIS_TEST_URL: %v", err)
	}
	r.nodes = []string{opts.Addr}
	r.direct = clientFor(t, r.url)
	t.Cleanup(func() { r.direct.Close() })
	r.direct.Ping(context.Background()) // its connection (a goroutine, in miniredis) before any test counts them
	if c, ok := r.direct.(clusterClient); ok {
		r.cluster, r.nodes = true, nil
		shards, err := c.ClusterShards(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, shard := range shards {
			for _, node := range shard.Nodes {
				r.nodes = append(r.nodes, net.JoinHostPort(node.IP, fmt.Sprint(node.Port)))
			}
		}
	}
	if r.mini == nil {
		r.proxies = newProxies(t, r.nodes)
	}
	return r
}

// stop makes Redis unreachable: miniredis closes, or the proxies cut every
// connection and refuse new ones.
func (r *testRedis) stop() {
	if r.mini != nil {
		r.mini.Close()
	} else {
		r.proxies.cut(true)
	}
}

// start brings Redis back.
func (r *testRedis) start(t testing.TB) {
	if r.mini != nil {
		if err := r.mini.Restart(); err != nil {
			t.Fatal(err)
		}
	} else {
		r.proxies.cut(false)
	}
}

// connect is a client for an instance, as main makes it, through the test's
// proxies in front of a real Redis.
func (r *testRedis) connect(t testing.TB) redis.UniversalClient {
	if r.mini != nil {
		return clientFor(t, r.url)
	}
	return r.connectThrough(t, r.proxies)
}

// through returns new proxies in front of this Redis, for a test to fail
// it, and a client for an instance through them.
func (r *testRedis) through(t testing.TB) (proxies, redis.UniversalClient) {
	p := newProxies(t, r.nodes)
	return p, r.connectThrough(t, p)
}

// connectThrough is a client for an instance through p. A cluster client
// learns the nodes' own addresses from the cluster: its Dialer takes each
// to the node's proxy.
func (r *testRedis) connectThrough(t testing.TB, p proxies) redis.UniversalClient {
	if !r.cluster {
		return clientFor(t, "redis://"+p.addr())
	}
	opts, _ := redis.ParseURL(r.url)
	opts.Addr, opts.Dialer = p[0].target, p.dial
	rdb, err := connectCluster(opts, false)
	if rdb == nil {
		t.Fatalf("a cluster client through proxies: %v", err)
	}
	return rdb
}

// client is the test's own client, straight to Redis.
func (r *testRedis) client(t testing.TB) redis.UniversalClient {
	return r.direct
}

// numsub is how many subscribers Redis counts on the room's channel: on a
// cluster, its slot's master counts its shard channel's.
func (r *testRedis) numsub(t *testing.T, room string) int64 {
	t.Helper()
	ctx, channel := context.Background(), roomPrefix+room+roomTag(t)
	n, err := r.direct.PubSubNumSub(ctx, channel).Result()
	if c, ok := r.direct.(clusterClient); ok {
		var m *redis.Client
		if m, err = c.MasterForKey(ctx, channel); err == nil {
			n, err = m.PubSubShardNumSub(ctx, channel).Result()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return n[channel]
}

// waitNumsub waits until Redis counts want subscribers on the room's
// channel. Redis drops a closed subscription a moment after its client
// goes, so the count can lag for an instant.
func (r *testRedis) waitNumsub(t *testing.T, room string, want int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscribers on room %s (is something else, such as a running instance, subscribed on this Redis?)", want, room), func() bool {
		return r.numsub(t, room) == want
	})
}

// runTag and roomTag keep one test's rooms, their channels and their keys
// (an exercise's history, say) apart from every other test's and run's on
// a shared Redis (a cluster has no databases to keep them apart): the test
// says "lobby", the instance hears "lobby-" and a tag of the test's own
// (testClient.send and next, tagged).
var runTag = rand.Text()

func roomTag(t testing.TB) string {
	sum := sha256.Sum256([]byte(runTag + t.Name()))
	return fmt.Sprintf("-%x", sum[:3])
}

var roomField = regexp.MustCompile(`("room":"[A-Za-z0-9_-]+)"`)

// tagged adds t's tag to each room in a frame or payload.
func tagged(t testing.TB, s string) string {
	return roomField.ReplaceAllString(s, "${1}"+roomTag(t)+`"`)
}

// instance is one running step4-rooms server, wired as main wires it.
type instance struct {
	hub *hub
	url string // the WebSocket URL, without ?name=
	// shutdown takes the steps main takes after Ctrl-C. It runs when the
	// test ends, unless the test has run it already.
	shutdown func()
}

func startInstance(t testing.TB, rdb redis.UniversalClient, configure ...func(*hub)) *instance {
	t.Helper()
	inst := newInstance(t, rdb, configure...)
	waitFor(t, "Redis to confirm the subscription", func() bool { return inst.hub.confirmed(broadcastChannel) })
	return inst
}

// newInstance runs an instance on rdb without waiting for its subscription.
func newInstance(t testing.TB, rdb redis.UniversalClient, configure ...func(*hub)) *instance {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ps := rdb.Subscribe(context.Background(), broadcastChannel)
	h := newHub(rdb, ps, fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port))
	for _, f := range configure {
		f(h)
	}
	go h.relay(ps)
	srv.Config.Handler = newMux(h)
	srv.Start()
	inst := &instance{hub: h, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	inst.shutdown = sync.OnceFunc(func() {
		srv.Close()
		h.shutdown(nil)
	})
	t.Cleanup(inst.shutdown)
	return inst
}

func startInstanceOn(t testing.TB, r *testRedis, configure ...func(*hub)) *instance {
	t.Helper()
	return startInstance(t, r.connect(t), configure...)
}

// clientFor is a client for url with the options main gives it.
func clientFor(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	rdb, _, err := connectRedis(url, "")
	if err != nil {
		t.Fatal(err)
	}
	return rdb
}

// testClient speaks the JSON protocol for a test.
type testClient struct {
	t       testing.TB
	name    string
	conn    *websocket.Conn
	events  []event  // read from a frame, not yet looked at
	pending []string // lines of a frame that an exercise read, not yet looked at
}

func connect(t testing.TB, inst *instance, name string) *testClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(inst.url+"?name="+name, nil)
	if err != nil {
		t.Fatalf("dial as %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &testClient{t: t, name: name, conn: conn}
	// First, the server says who the client is, and which instance it is on.
	if ev := c.expect("hello", ""); ev.User != name && name != "" || ev.Via != inst.hub.via {
		t.Fatalf("%s: hello %+v, want user %q via %s", name, ev, name, inst.hub.via)
	}
	return c
}

// send writes one request frame, as it is.
func (c *testClient) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(tagged(c.t, frame))); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func (c *testClient) sendJSON(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.send(string(b))
}

// next returns the next event; a frame may carry several, one per line.
func (c *testClient) next() event {
	c.t.Helper()
	for len(c.events) == 0 {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, frame, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("%s: read: %v", c.name, err)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			var ev event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				c.t.Fatalf("%s: a line that is not JSON: %q", c.name, line)
			}
			// Rooms as the test named them.
			ev.Room, ev.Error = strings.TrimSuffix(ev.Room, roomTag(c.t)), strings.ReplaceAll(ev.Error, roomTag(c.t), "")
			for i := range ev.Rooms {
				ev.Rooms[i] = strings.TrimSuffix(ev.Rooms[i], roomTag(c.t))
			}
			c.events = append(c.events, ev)
		}
	}
	ev := c.events[0]
	c.events = c.events[1:]
	return ev
}

// expect reads the next event and checks its type (and room, if given).
func (c *testClient) expect(typ, room string) event {
	c.t.Helper()
	ev := c.next()
	if ev.Type != typ || ev.Room != room {
		c.t.Fatalf("%s: got %+v, want a %q event for room %q", c.name, ev, typ, room)
	}
	return ev
}

func (c *testClient) join(room string) {
	c.t.Helper()
	c.sendJSON(request{Type: "join", Room: room})
	c.expect("joined", room)
}

func (c *testClient) say(room, text string) {
	c.t.Helper()
	c.sendJSON(request{Type: "message", Room: room, Text: text})
}

// expectMessage reads the next event and checks it is text in room.
func (c *testClient) expectMessage(room, text string) event {
	c.t.Helper()
	ev := c.expect("message", room)
	if ev.Text != text {
		c.t.Fatalf("%s: got text %q in %s, want %q", c.name, ev.Text, room, text)
	}
	return ev
}

func (c *testClient) expectError(contains string) {
	c.t.Helper()
	ev := c.expect("error", "")
	if !strings.Contains(ev.Error, contains) {
		c.t.Fatalf("%s: got error %q, want one about %q", c.name, ev.Error, contains)
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closeCode reads until the connection ends and returns the close code the server sent.
func closeCode(t *testing.T, conn *websocket.Conn) int {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code
	}
}

func TestRoomsAreIsolatedAcrossInstances(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	alice, carol := connect(t, a, "alice"), connect(t, a, "carol")
	bob, dave := connect(t, b, "bob"), connect(t, b, "dave")
	alice.join("red")
	bob.join("red")
	carol.join("blue")
	dave.join("blue")

	alice.say("red", "hello red")
	dave.say("blue", "hello blue")
	ids := map[string]bool{}
	for _, c := range []*testClient{alice, bob} {
		ev := c.expectMessage("red", "hello red")
		if ev.User != "alice" || ev.TS == 0 || ev.ID == "" {
			t.Errorf("%s got %+v: want user alice, a timestamp and an id", c.name, ev)
		}
		ids[ev.Room+" "+ev.ID] = true
	}
	for _, c := range []*testClient{carol, dave} {
		ev := c.expectMessage("blue", "hello blue")
		ids[ev.Room+" "+ev.ID] = true
	}
	if len(ids) != 2 { // an id need only be unique within its room
		t.Errorf("message ids = %v, want one per message, the same on every instance", ids)
	}

	// Exactly once: the next event each member sees is the next message in
	// its own room, not a repeat and not the other room's.
	bob.say("red", "second red")
	carol.say("blue", "second blue")
	for _, c := range []*testClient{alice, bob} {
		c.expectMessage("red", "second red")
	}
	for _, c := range []*testClient{carol, dave} {
		c.expectMessage("blue", "second blue")
	}
}

func TestSubscribedOnlyWhileALocalClientIsInTheRoom(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	const channel = "lobby"
	if n := r.numsub(t, channel); n != 0 {
		t.Fatalf("NUMSUB before any join = %d, want 0", n)
	}

	alice, amy := connect(t, a, "alice"), connect(t, a, "amy")
	alice.join("lobby")
	r.waitNumsub(t, channel, 1)
	amy.join("lobby") // a second local member: still one subscription
	bob := connect(t, b, "bob")
	bob.join("lobby")
	r.waitNumsub(t, channel, 2) // one per instance, however many members

	alice.sendJSON(request{Type: "leave", Room: "lobby"})
	alice.expect("left", "lobby")
	r.waitNumsub(t, channel, 2) // amy is still in it on A
	amy.conn.Close()            // the last member on A disconnects
	r.waitNumsub(t, channel, 1)
	bob.sendJSON(request{Type: "leave", Room: "lobby"})
	bob.expect("left", "lobby")
	r.waitNumsub(t, channel, 0)
}

func TestJoinedOnlyOnceTheSubscriptionExists(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	alice := connect(t, a, "alice")
	alice.join("first")
	// joined arrived, so Redis has the subscription already: no waiting.
	if n := r.numsub(t, "first"); n != 1 {
		t.Fatalf("NUMSUB right after joined = %d, want 1", n)
	}

	// With Redis away, a join waits: the client is not in the room yet.
	r.stop()
	alice.expectDown(r, "first")
	alice.sendJSON(request{Type: "join", Room: "second"})
	alice.expectError("Redis is unavailable")
	alice.say("second", "too early")
	alice.expectError("not in room")
	r.start(t)
	alice.expectInAnyOrder(append(ups(true, "first"), event{Type: "joined", Room: "second"})...)
	alice.say("second", "now")
	alice.expectMessage("second", "now")
}

func TestAnnouncementsReachEveryClientOnEveryInstance(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	alice.join("red") // in a room or not, everyone hears announcements
	waitFor(t, "both clients", func() bool { return numClients(a.hub) == 1 && numClients(b.hub) == 1 })

	// What an instructor types: redis-cli PUBLISH broadcast "break in 5 minutes"
	r.client(t).Publish(context.Background(), broadcastChannel, "break in 5 minutes")
	for _, c := range []*testClient{alice, bob} {
		if ev := c.expect("announcement", ""); ev.Text != "break in 5 minutes" {
			t.Errorf("%s got announcement %q", c.name, ev.Text)
		}
	}
}

func TestSilentClientIsDroppedAndItsRoomsCleanedUp(t *testing.T) {
	r := newTestRedis(t)
	fastHeartbeat := func(h *hub) { h.pingPeriod, h.pongWait = 20*time.Millisecond, 100*time.Millisecond }
	a := startInstanceOn(t, r, fastHeartbeat)
	alive, silent := connect(t, a, "alive"), connect(t, a, "silent")
	alive.join("lobby")
	silent.join("solo")
	silent.join("lobby")

	// alive keeps reading, and so answers pings; silent stops reading now.
	// (A gorilla client answers a ping only while it reads.)
	aliveErr := make(chan error, 1)
	go func() {
		alive.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := alive.conn.ReadMessage() // returns only if the server drops it
		aliveErr <- err
	}()
	waitFor(t, "the silent client to be dropped", func() bool { return numClients(a.hub) == 1 })
	r.waitNumsub(t, "solo", 0) // it was the last member
	r.waitNumsub(t, "lobby", 1)
	select {
	case err := <-aliveErr:
		t.Fatalf("the client that answered pings was dropped too: %v", err)
	default:
	}
}

func TestBadInputGetsAnErrorAndTheConnectionStaysUsable(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	c := connect(t, a, "tester")
	long := strings.Repeat("é", maxTextLength+1)

	cases := []struct{ frame, wantError string }{
		{`{not json`, "invalid JSON"},
		{`[1,2,3]`, "invalid JSON"},
		{`{"type":"dance","room":"r"}`, `unknown type "dance"`},
		{`{"room":"r"}`, `unknown type ""`},
		{`{"type":"join"}`, "invalid room name"},
		{`{"type":"join","room":""}`, "invalid room name"},
		{`{"type":"join","room":"no spaces"}`, "invalid room name"},
		{`{"type":"join","room":"` + strings.Repeat("r", maxRoomLength+1) + `"}`, "invalid room name"},
		{`{"type":"join","room":"<script>"}`, "invalid room name"},
		{`{"type":"message","room":"elsewhere","text":"hi"}`, "not in room"},
		{`{"type":"leave","room":"elsewhere"}`, "not in room"},
		{`{"type":"message","room":"lobby","text":"   "}`, "empty text"},
		{`{"type":"message","room":"lobby"}`, "empty text"},
		{`{"type":"message","room":"lobby","text":"` + long + `"}`, "text longer than"},
	}
	c.join("lobby")
	for _, tc := range cases {
		c.send(tc.frame)
		c.expectError(tc.wantError)
		// The same connection still works after each refusal.
		c.say("lobby", "still fine")
		c.expectMessage("lobby", "still fine")
	}

	for i := 1; i < maxRoomsPerClient; i++ {
		c.join(fmt.Sprint("room", i))
	}
	c.sendJSON(request{Type: "join", Room: "one-too-many"})
	c.expectError("too many rooms")
	c.say("lobby", "after the limit")
	c.expectMessage("lobby", "after the limit")
}

// A frame carries one request: two in one frame get an error, and neither
// is carried out. (The server's frames may carry several events, one per line.)
func TestTwoRequestsInOneFrameAreRefused(t *testing.T) {
	a := startInstanceOn(t, newTestRedis(t))
	c := connect(t, a, "tester")
	c.join("lobby")
	for _, frame := range []string{
		`{"type":"join","room":"first"}` + "\n" + `{"type":"join","room":"second"}`,
		`{"type":"message","room":"lobby","text":"one"} {"type":"message","room":"lobby","text":"two"}`,
		`{"type":"leave","room":"lobby"}[]`,
		`{"type":"leave","room":"lobby"}` + "\n" + `null`,
	} {
		c.send(frame)
		c.expectError("one request per frame")
	}
	c.send(`{"type":"leave","room":"lobby"}}`)
	c.expectError("invalid JSON")
	// None of them was carried out: not in the rooms, still in the lobby,
	// and its next message is the first to arrive there.
	for _, room := range []string{"first", "second"} {
		c.say(room, "hello?")
		c.expectError(fmt.Sprintf("not in room %q", room))
	}
	c.send(`{"type":"message","room":"lobby","text":"alone"}` + "\n\t ")
	c.expectMessage("lobby", "alone")
}

// The longest message, with every character sent escaped as JSON allows,
// still fits in a frame.
func TestTheLongestMessageFitsEvenEscaped(t *testing.T) {
	a := startInstanceOn(t, newTestRedis(t))
	c := connect(t, a, "emoji")
	c.join("lobby")
	text := strings.Repeat("😀", maxTextLength)
	escaped := strings.Repeat(`\ud83d\ude00`, maxTextLength)
	c.send(`{"type":"message","room":"lobby","text":"` + escaped + `"}`)
	c.expectMessage("lobby", text)
}

func TestFrameOverTheLimitGets1009(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	c, other := connect(t, a, "big"), connect(t, a, "other")
	c.send(`{"type":"message","room":"lobby","text":"` + strings.Repeat("a", maxMessageSize) + `"}`)
	if code := closeCode(t, c.conn); code != websocket.CloseMessageTooBig {
		t.Errorf("close code = %d, want %d", code, websocket.CloseMessageTooBig)
	}
	other.join("lobby") // nothing else broke
}

func TestClientCannotSpeakAsSomeoneElse(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	mallory := connect(t, a, "mallory")
	mallory.join("lobby")
	mallory.send(`{"type":"message","room":"lobby","text":"I am alice","user":"alice","id":"x","ts":1}`)
	ev := mallory.expectMessage("lobby", "I am alice")
	if ev.User != "mallory" || ev.ID == "x" || ev.TS == 1 {
		t.Errorf("got %+v: user, id and ts must come from the server", ev)
	}
}

func TestInvalidNameIsRefusedWith400(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	for _, name := range []string{"no%20spaces", strings.Repeat("n", maxNameLength+1), "%3Cb%3E"} {
		_, res, err := websocket.DefaultDialer.Dial(a.url+"?name="+name, nil)
		if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("name %q: err = %v; want HTTP 400", name, err)
		}
		body, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(body), "invalid name") {
			t.Errorf("name %q: body %q does not say why", name, body)
		}
	}
}

func TestNoNameGetsAGuestName(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	conn, _, err := websocket.DefaultDialer.Dial(a.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	guest := &testClient{t: t, name: "guest", conn: conn}
	if ev := guest.expect("hello", ""); !strings.HasPrefix(ev.User, "guest-") {
		t.Errorf("hello says user %q, want a guest name", ev.User)
	}
	guest.join("lobby")
	guest.say("lobby", "hi")
	if ev := guest.expectMessage("lobby", "hi"); !strings.HasPrefix(ev.User, "guest-") {
		t.Errorf("user = %q, want a guest name", ev.User)
	}
}

func TestMalformedPayloadsOnRedisAreNotPassedOn(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	alice := connect(t, a, "alice")
	alice.join("lobby")
	rdb := r.client(t)
	for _, junk := range []string{
		"not json", "{}\n{}", "null", `{"type":"message","room":"lobby"}`, "\xff",
		"{\"type\":\"message\",\"room\":\"lobby\",\"user\":\"eve\",\"text\":\"\xff\"}",
		`{"type":"message","room":"kitchen","user":"eve","text":"wrong room"}`,
		`{"type":"joined","room":"lobby"}`, `{"type":"message","room":"lobby","user":"<b>","text":"hi"}`,
	} {
		rdb.Publish(context.Background(), roomPrefix+"lobby"+roomTag(t), tagged(t, junk))
	}
	for _, junk := range []string{"\xff\xfe", " \n", strings.Repeat("é", maxTextLength+1)} {
		rdb.Publish(context.Background(), broadcastChannel, junk)
	}
	alice.say("lobby", "real")
	alice.expectMessage("lobby", "real") // the junk never arrived
}

func TestRoomsComeBackAfterARedisOutage(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	alice.join("lobby")
	bob.join("lobby")

	before := runtime.NumGoroutine()
	r.stop()
	// Both hear that messages to the lobby may be missed from now on.
	alice.expectDown(r, "lobby")
	bob.expectDown(r, "lobby")
	alice.say("lobby", "lost")
	alice.expectError("Redis is unavailable")
	bob.sendJSON(request{Type: "join", Room: "waiting"}) // answered once Redis is back
	bob.expectError("Redis is unavailable")
	// Retrying costs no goroutines: nothing piles up while Redis is away.
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines during the outage, %d before it", n, before)
	}

	// Until now: as Redis confirms what they lost, they hear "up".
	r.start(t)
	alice.expectInAnyOrder(ups(true, "lobby")...)
	bob.expectInAnyOrder(append(ups(true, "lobby"), event{Type: "joined", Room: "waiting"})...)
	r.waitNumsub(t, "lobby", 2)
	bob.say("lobby", "back")
	alice.expectMessage("lobby", "back")
	bob.expectMessage("lobby", "back")
}

func TestShutdownSays1001AndLeavesNothingBehind(t *testing.T) {
	r := newTestRedis(t)
	before := runtime.NumGoroutine()
	inst := startInstanceOn(t, r)
	alice, bob := connect(t, inst, "alice"), connect(t, inst, "bob")
	alice.join("lobby")
	bob.join("lobby")

	inst.shutdown()

	for _, c := range []*testClient{alice, bob} {
		if code := closeCode(t, c.conn); code != websocket.CloseGoingAway {
			t.Errorf("%s: close code = %d, want %d", c.name, code, websocket.CloseGoingAway)
		}
	}
	waitFor(t, "every goroutine to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestClientsLeaveNothingBehind(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	// A first command opens a pooled connection to Redis (and, in miniredis,
	// a goroutine that serves it; in go-redis, one per node that tends it):
	// the instance's doing, not the clients'. On a cluster, to every master.
	if c, ok := a.hub.rdb.(clusterClient); ok {
		c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() })
	} else {
		a.hub.rdb.Ping(context.Background())
	}
	before := runtime.NumGoroutine()

	clients := []*testClient{connect(t, a, "one"), connect(t, a, "two"), connect(t, a, "three")}
	for _, c := range clients {
		c.join("lobby")
	}
	clients[0].conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	clients[1].conn.Close() // gone without a close frame
	clients[2].conn.WriteMessage(websocket.BinaryMessage, []byte{0})

	waitFor(t, "an empty hub", func() bool { return numClients(a.hub) == 0 })
	r.waitNumsub(t, "lobby", 0)
	waitFor(t, "the connection goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	a.hub.mu.Lock()
	defer a.hub.mu.Unlock()
	if len(a.hub.rooms) != 0 {
		t.Errorf("rooms left behind: %v", a.hub.rooms)
	}
}

func TestEmbeddedBrokerIsSharedAndTakenOver(t *testing.T) {
	// A free address stands in for localhost:6379.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()

	rdbA, brokerA, err := connectRedis("", addr)
	if err != nil || brokerA == nil || !brokerA.hosting() {
		t.Fatalf("first instance: err = %v; want it to host the broker", err)
	}
	t.Cleanup(brokerA.close)
	rdbB, brokerB, err := connectRedis("", addr)
	if err != nil || brokerB == nil || brokerB.hosting() {
		t.Fatalf("second instance: err = %v; want it to use the first one's broker", err)
	}
	t.Cleanup(brokerB.close)

	a, b := startInstance(t, rdbA), startInstance(t, rdbB)
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	alice.join("lobby")
	bob.join("lobby")
	alice.say("lobby", "from A")
	bob.expectMessage("lobby", "from A")

	brokerA.close()
	waitFor(t, "B to host the broker", brokerB.hosting)
	// Both instances subscribe again, on the new broker. (Until then B's
	// hub may not have noticed the old one go: it is no sign to wait for.)
	waitFor(t, "both instances to subscribe to the room on the new broker", func() bool {
		return brokerB.numsub(roomPrefix+"lobby"+roomTag(t)) == 2 && b.hub.confirmed(roomPrefix+"lobby"+roomTag(t))
	})
	bob.expectRedis("down", "lobby")
	bob.expectInAnyOrder(ups(true, "lobby")...)
	bob.say("lobby", "B carries on")
	bob.expectMessage("lobby", "B carries on")
}

func TestOtherOriginsAreRefused(t *testing.T) {
	srv := httptest.NewServer(newMux(newHub(nil, nil, "")))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	_, res, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: err = %v; want 403", err)
	}
}

func TestServesThePage(t *testing.T) {
	srv := httptest.NewServer(newMux(newHub(nil, nil, "")))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET / = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(body), `"/ws?name="`) {
		t.Error("the page does not connect to /ws")
	}
}

func TestDebugVarsCountWhatPassed(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	alice, bob := connect(t, inst, "alice"), connect(t, inst, "bob")
	room := roomTag(t)
	alice.join(room)
	bob.join(room)
	alice.say(room, "hi")
	alice.expectMessage(room, "hi")
	bob.expectMessage(room, "hi")

	res, err := http.Get("http" + strings.TrimSuffix(strings.TrimPrefix(inst.url, "ws"), "/ws") + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var vars struct {
		Chat struct {
			Clients     int    `json:"clients"`
			Rooms       int    `json:"rooms"`
			MessagesIn  int    `json:"messages_in"`
			EventsOut   int    `json:"events_out"`
			DroppedSlow int    `json:"dropped_slow"`
			Redis       string `json:"redis"`
		} `json:"chat"`
	}
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &vars); err != nil {
		t.Fatalf("GET /debug/vars: %v\n%s", err, body)
	}
	c := vars.Chat
	// Two hellos, two joined, the message to each; one message from Redis
	// (more if another test announces on the same Redis).
	if c.Clients != 2 || c.Rooms != 1 || c.MessagesIn < 1 || c.EventsOut < 6 || c.DroppedSlow != 0 || c.Redis != "up" {
		t.Errorf("GET /debug/vars: %s", body)
	}
}

func TestParsePort(t *testing.T) {
	if got, err := parsePort(nil); got != 3459 || err != nil {
		t.Errorf("parsePort() = %d, %v", got, err)
	}
	for _, bad := range []string{"abc", "0", "65536"} {
		if _, err := parsePort([]string{bad}); err == nil {
			t.Errorf("parsePort(%q): want an error", bad)
		}
	}
}

// requestRules says, for each type of request parseRequest accepts, what a
// request of that type must carry. A new type of request has its line here.
var requestRules = map[string]func(request) bool{
	"join":  func(r request) bool { return validName(r.Room, maxRoomLength) },
	"leave": func(r request) bool { return validName(r.Room, maxRoomLength) },
	"message": func(r request) bool {
		return validName(r.Room, maxRoomLength) && strings.TrimSpace(r.Text) != "" && len([]rune(r.Text)) <= maxTextLength
	},
}

// FuzzParseRequest feeds arbitrary frames to the decoder: it must never
// panic, and whatever it accepts must be a request the hub can act on and
// whose message, as the server would send it, is one line of valid JSON.
// The seeds below run in every plain `go test`.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"join","room":"lobby"}`,
		`{"type":"leave","room":"a-b_C9"}`,
		`{"type":"message","room":"r","text":"hi <img src=x onerror=alert(1)>"}`,
		`{"type":"message","room":"r","text":"line\nbreak","user":"alice"}`,
		`{"type":"message","room":"r","text":"\u0000\u2028"}`,
		`{"type":"join","room":"` + strings.Repeat("x", 65) + `"}`,
		`{"type":"message","room":"r","text":"` + strings.Repeat("a", 501) + `"}`,
		`{"type":"join","room":"r","type":"dance"}`,
		`{"type":7}`, `null`, `[]`, `"join"`, `{`, ``, "\xff",
		`{"type":"join","room":"a"}` + "\n" + `{"type":"join","room":"b"}`, `{"type":"leave","room":"r"} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseRequest(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no reason")
			}
			return
		}
		if wellFormed, known := requestRules[req.Type]; !known || !wellFormed(req) {
			t.Fatalf("accepted %+v", req)
		}
		if req.Type == "message" {
			line := event{Type: "message", Room: req.Room, User: "u", Text: req.Text}.encode()
			if strings.Contains(string(line), "\n") || !json.Valid(line) {
				t.Fatalf("encoded message is not one line of JSON: %q", line)
			}
		}
	})
}

// numClients is the number of clients in the hub. (A function, not a method:
// an exercise answer may well add a method count.)
func numClients(h *hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// hosting reports whether this process hosts the embedded broker.
func (b *broker) hosting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.server != nil
}

// numsub is how many subscribers the broker this process hosts counts on channel.
func (b *broker) numsub(channel string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.server.PubSubNumSub(channel)[channel]
}
