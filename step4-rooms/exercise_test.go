//go:build exercise

package main

// The chapter's exercises, checked. From the step's folder:
//
//	go test -race -tags exercise ./...                            all of them
//	go test -race -tags exercise -run TestExercisePingPong ./...  one
//
// Each fails with one line that says what is still missing.

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// In the room: {"type":"ping"} is answered with {"type":"pong"}, as a page
// might do to show its round trip. Writing the pong straight from
// readPump breaks gorilla's rule of one writer per connection: this test
// pings while messages flow to the same client, and -race catches it.
func TestExercisePingPong(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	pinger, talker := connect(t, inst, "pinger"), connect(t, inst, "talker")
	pinger.join("lobby")
	talker.join("lobby")
	const n = 100
	go func() { // keeps pinger's writer busy with the room's messages
		for i := 0; i < 2*n; i++ {
			talker.conn.WriteMessage(websocket.TextMessage, []byte(tagged(t, fmt.Sprintf(`{"type":"message","room":"lobby","text":"busy %d"}`, i))))
		}
	}()
	for i := 0; i < n; i++ {
		pinger.send(`{"type":"ping"}`)
	}
	for pongs := 0; pongs < n; {
		ev, ok := nextWithin(pinger, 5*time.Second)
		switch {
		case !ok:
			t.Fatalf("%d pongs for %d pings: answer {\"type\":\"ping\"} with {\"type\":\"pong\"}", pongs, n)
		case ev["type"] == "error":
			t.Fatalf("a ping was refused (%s): answer {\"type\":\"ping\"} with {\"type\":\"pong\"}", ev["error"])
		case ev["type"] == "pong":
			pongs++
		}
	}
}

// Take-home: a member who joins a room hears its last 20 messages, oldest
// first, each once. They are kept in Redis, per room, so that every
// instance has them: also one that has just (re)started.
func TestExerciseHistory(t *testing.T) {
	r := newTestRedis(t)
	room := "lobby-" + rand.Text()[:6] // a room of its own on each run: a real Redis keeps the history
	a := startInstanceOn(t, r)
	alice := connect(t, a, "alice")
	alice.join(room)
	for i := 1; i <= 25; i++ {
		alice.say(room, fmt.Sprint("m", i))
		alice.expectMessage(room, fmt.Sprint("m", i))
	}
	var beforeRead onNextCommand
	b := startInstanceOn(t, r, func(h *hub) { h.rdb.AddHook(&beforeRead) }) // a new instance: it remembers nothing itself
	bob := connect(t, b, "bob")
	bob.sendJSON(request{Type: "join", Room: room})
	joined, next := false, 6 // the history is m6 to m25
	for !joined || next <= 25 {
		ev, ok := nextWithin(bob, 2*time.Second)
		switch {
		case ok && ev["type"] == "joined":
			joined = true
		case ok && ev["type"] == "message" && ev["text"] == fmt.Sprint("m", next):
			next++
		default:
			t.Fatalf("joining, bob heard %s where the history has m%d: send the room's last 20 messages, oldest first",
				cmp.Or(ev["text"], ev["type"], any("nothing")), next)
		}
	}

	// Each once. carol joins on b, where bob is in the room already. Just
	// before b's first command to Redis for her join (the history's read),
	// alice says m26, and b passes it on to the room's members: read after
	// carol became a member, the history would bring m26 a second time.
	carol := connect(t, b, "carol")
	said := make(chan struct{})
	sayM26 := func() { // not on the test's goroutine: no t.Fatal
		defer close(said)
		frame, _ := json.Marshal(request{Type: "message", Room: room, Text: "m26"})
		alice.conn.WriteMessage(websocket.TextMessage, []byte(tagged(t, string(frame))))
		for { // until b has passed it on
			if ev, ok := nextWithin(bob, 2*time.Second); !ok || ev["text"] == "m26" {
				return
			}
		}
	}
	beforeRead.set(sayM26)
	carol.sendJSON(request{Type: "join", Room: room})
	select {
	case <-said:
	case <-time.After(5 * time.Second): // no command to Redis: then now
		if beforeRead.take() != nil {
			sayM26()
		}
		<-said
	}
	// Then, once carol has it all, m27: any m26 still on its way comes first.
	heard, joined, saidM27 := map[any]bool{}, false, false
	missing := func() string {
		for i := 7; i <= 26; i++ {
			if !heard[fmt.Sprint("m", i)] {
				return fmt.Sprint("m", i)
			}
		}
		return cmp.Or(map[bool]string{false: "joined"}[joined], "m27")
	}
	for !heard["m27"] {
		ev, ok := nextWithin(carol, 2*time.Second)
		switch {
		case !ok:
			t.Fatalf("joining, carol never heard %s: send the room's last 20 messages, oldest first", missing())
		case ev["type"] == "joined":
			joined = true
		case ev["type"] != "message":
		case heard[ev["text"]]:
			t.Fatalf("message %q arrived twice, live and from the history: read the history before the client becomes a member, or skip what it already has", ev["text"])
		default:
			heard[ev["text"]] = true
		}
		if missing() == "m27" && !saidM27 {
			alice.say(room, "m27")
			saidM27 = true
		}
	}
}

// onNextCommand is a go-redis hook that runs a function, once set, before
// the next command that its client sends.
type onNextCommand struct{ f atomic.Pointer[func()] }

func (o *onNextCommand) set(f func()) { o.f.Store(&f) }

// take returns the function if it has not run, and unsets it.
func (o *onNextCommand) take() func() {
	if f := o.f.Swap(nil); f != nil {
		return *f
	}
	return nil
}

func (o *onNextCommand) run() {
	if f := o.take(); f != nil {
		f()
	}
}

func (o *onNextCommand) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *onNextCommand) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { o.run(); return next(ctx, cmd) }
}

func (o *onNextCommand) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { o.run(); return next(ctx, cmds) }
}

// Take-home: {"type":"who","room":"R"} is answered with the members of R
// on every instance, {"type":"who","room":"R","users":[...]} (sorted). One
// who disconnects is gone at once; one whose instance dies without a word,
// within 30 seconds. Pub/Sub cannot tell who is there: that is state, kept
// in Redis, which must expire.
func TestExercisePresence(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	alice, bob, carol := connect(t, a, "alice"), connect(t, b, "bob"), connect(t, b, "carol")
	for _, c := range []*testClient{alice, bob, carol} {
		c.join("lobby")
	}
	asker := connect(t, a, "asker")
	who := func() []string {
		asker.send(`{"type":"who","room":"lobby"}`)
		for {
			ev, ok := nextWithin(asker, 2*time.Second)
			if !ok || ev["type"] == "error" {
				t.Fatalf("who got %v: answer {\"type\":\"who\",\"room\":\"lobby\"} with the room's members on every instance", ev)
			}
			if ev["type"] == "who" {
				var users []string
				list, _ := ev["users"].([]any) // none: left out
				for _, u := range list {
					users = append(users, fmt.Sprint(u))
				}
				return users
			}
		}
	}
	waitWho := func(want []string, within time.Duration, what string) {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = who(); slices.Equal(got, want) {
				return
			}
		}
		t.Fatalf("who says %q %s, want %q", got, what, want)
	}
	waitWho([]string{"alice", "bob", "carol"}, 2*time.Second, "with three members on two instances")
	carol.conn.Close()
	waitWho([]string{"alice", "bob"}, 2*time.Second, "once carol has disconnected")

	if r.mini == nil {
		t.Log("an instance that dies: checked on miniredis only, which can move its clock 30 s on")
		return
	}
	// b dies: its Redis client goes first, so that nothing it does on the
	// way out reaches Redis. After 30 s, only what is kept alive remains.
	b.hub.rdb.Close()
	b.shutdown()
	r.mini.FastForward(31 * time.Second)
	waitWho([]string{"alice"}, 15*time.Second, "30 s after bob's instance died")
}

// Take-home: a client that comes back misses nothing. Each room message
// has an "id", its Redis Stream id, which orders it within its room; a
// join with "since" (the last id the client saw) gets the room's messages
// after it, in order, each once, then "joined" with "recovered":true, or
// "recovered":false when the history, capped at about 100 messages per
// room, no longer reaches back that far.
func TestExerciseRecovery(t *testing.T) {
	r := newTestRedis(t)
	a := startInstanceOn(t, r)
	p, rdb := r.through(t) // b's Redis, which the test can freeze
	b := startInstance(t, rdb)
	alice, dave, bob := connect(t, a, "alice"), connect(t, b, "dave"), connect(t, b, "bob")
	for _, c := range []*testClient{alice, dave, bob} { // dave keeps the room on b
		c.join("lobby")
	}
	say := func(text string) {
		alice.say("lobby", text)
		alice.expectMessage("lobby", text)
	}
	var since string
	for i := 1; i <= 3; i++ {
		say(fmt.Sprint("m", i))
		ev, ok := nextWithin(bob, 2*time.Second)
		id, _ := ev["id"].(string)
		switch {
		case ev["text"] != fmt.Sprint("m", i):
			t.Fatalf("bob heard %s where m%d was due", describe(ev, ok), i)
		case !isStreamID(id):
			t.Fatalf("a room message's \"id\" is %q: give each one its Redis Stream id (XADD), which orders it within its room", id)
		case since != "" && !streamIDLess(since, id):
			t.Fatalf("m%d's \"id\" %q does not come after m%d's %q: give each room message its Redis Stream id", i, id, i-1, since)
		}
		since = id
	}
	bob.conn.Close()
	for i := 1; i <= 3; i++ {
		say(fmt.Sprint("missed ", i))
	}

	// bob comes back while the room talks: b's commands wait (frozen), so
	// that "during" is published, and reaches b, before b reads the history.
	bob = connect(t, b, "bob")
	p.freeze(true)
	bob.sendJSON(map[string]string{"type": "join", "room": "lobby", "since": since})
	say("during")
	for ev, ok := nextWithin(dave, 5*time.Second); ev["text"] != "during"; ev, ok = nextWithin(dave, 5*time.Second) {
		if !ok {
			p.freeze(false)
			t.Fatalf("dave never heard \"during\"")
		}
	}
	p.freeze(false)
	want := []string{"missed 1", "missed 2", "missed 3", "during", "after"} // "during" before or after "joined"
	for next, joined := 0, false; next < len(want); {
		ev, ok := nextWithin(bob, 5*time.Second)
		switch {
		case ok && ev["type"] == "joined" && !joined && next >= 3 && ev["recovered"] == true:
			joined = true
			say("after")
		case ok && ev["type"] == "message" && ev["text"] == want[next] && (joined || next <= 3):
			next++
		default:
			t.Fatalf("rejoining with \"since\", bob heard %s where %q was due: send the messages after since, in order, each once, then \"joined\" with \"recovered\":true",
				describe(ev, ok), want[next])
		}
	}

	// 250 messages later, bob's since has been trimmed away.
	for i := 1; i <= 250; i++ {
		alice.say("lobby", fmt.Sprint("flood ", i))
	}
	for ev, ok := nextWithin(alice, 5*time.Second); ev["text"] != "flood 250"; ev, ok = nextWithin(alice, 5*time.Second) {
		if !ok {
			t.Fatalf("alice never heard \"flood 250\"")
		}
	}
	erin := connect(t, a, "erin")
	erin.sendJSON(map[string]string{"type": "join", "room": "lobby", "since": since})
	ev, ok := nextWithin(erin, 5*time.Second)
	for ok && ev["type"] == "message" {
		ev, ok = nextWithin(erin, 5*time.Second)
	}
	if ev["type"] != "joined" || ev["recovered"] != false {
		t.Fatalf("joining with a \"since\" 250 messages old, erin heard %s: cap each room's history (XADD MAXLEN ~ 100), and say \"recovered\":false when it no longer holds since",
			describe(ev, ok))
	}
}

// describe says what a test client heard, for a failure message.
func describe(ev map[string]any, ok bool) string {
	switch {
	case !ok:
		return "nothing"
	case ev["type"] == "message":
		return fmt.Sprintf("%q", ev["text"])
	case ev["type"] == "joined":
		return fmt.Sprintf("\"joined\" with \"recovered\":%v", cmp.Or(ev["recovered"], any("absent")))
	}
	return fmt.Sprintf("%v", ev)
}

// isStreamID reports whether id is a Redis Stream id, such as "1700000000000-0".
func isStreamID(id string) bool {
	_, ok := streamIDParts(id)
	return ok
}

// streamIDLess reports whether stream id x comes before y.
func streamIDLess(x, y string) bool {
	a, _ := streamIDParts(x)
	b, _ := streamIDParts(y)
	return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
}

func streamIDParts(id string) ([2]uint64, bool) {
	ms, seq, found := strings.Cut(id, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return [2]uint64{a, b}, found && err1 == nil && err2 == nil
}

// nextWithin returns the next event of c as a map (all its fields), or
// false if none comes within d.
func nextWithin(c *testClient, d time.Duration) (map[string]any, bool) {
	c.t.Helper()
	for len(c.events) > 0 { // what next() has read already
		ev := c.events[0]
		c.events = c.events[1:]
		b, _ := json.Marshal(ev)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m, true
	}
	if c.pending == nil {
		c.conn.SetReadDeadline(time.Now().Add(d))
		_, frame, err := c.conn.ReadMessage()
		if err != nil {
			return nil, false
		}
		c.pending = strings.Split(string(frame), "\n")
	}
	var m map[string]any
	json.Unmarshal([]byte(c.pending[0]), &m)
	if c.pending = c.pending[1:]; len(c.pending) == 0 {
		c.pending = nil
	}
	return m, true
}

// Take-home: with CHAT_SECRET set, /ws wants a token signed with it, and the
// name comes from the token, never from ?name=. A token is NAME.EXPIRES.SIG:
// EXPIRES in Unix seconds, SIG the HMAC-SHA256 of "NAME.EXPIRES" keyed with
// the secret, in unpadded base64url (crypto/hmac: the idea of a JWT, without
// a dependency). It comes as ?token= or in the cookie chat_token; none, a
// forged one or an expired one is answered 401, before the upgrade.
// `step4-rooms token NAME` prints one, valid 24 hours. Without CHAT_SECRET,
// nothing changes. (The test sets CHAT_SECRET before it makes the instance's
// hub: read it there, or at each handshake, not in main.)
func TestExerciseSignedName(t *testing.T) {
	if os.Getenv("EXERCISE_RUN_MAIN") != "" { // the child below: main, as `step4-rooms token alice`
		os.Args = []string{"step4-rooms", "token", "alice"}
		main()
		os.Exit(0)
	}
	const secret = "workshop-secret"
	t.Setenv("CHAT_SECRET", secret)
	inst := startInstanceOn(t, newTestRedis(t))
	sign := func(name string, expires time.Time) string {
		payload := fmt.Sprintf("%s.%d", name, expires.Unix())
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(payload))
		return payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	// dial connects with the query and header given, and returns the
	// user its hello names, or the HTTP status of a refusal.
	dial := func(query string, header http.Header) (user string, status int) {
		conn, res, err := websocket.DefaultDialer.Dial(inst.url+query, header)
		if err != nil {
			if res == nil {
				t.Fatalf("dial: %v", err)
			}
			return "", res.StatusCode
		}
		t.Cleanup(func() { conn.Close() })
		c := &testClient{t: t, conn: conn}
		return c.expect("hello", "").User, http.StatusSwitchingProtocols
	}
	valid := sign("alice", time.Now().Add(time.Hour))
	for _, tc := range []struct{ query, what string }{
		{"?name=alice", "without a token"},
		{"?token=" + strings.Replace(valid, "alice", "mallory", 1), "with a forged token (alice's, renamed mallory)"},
		{"?token=" + sign("alice", time.Now().Add(-time.Minute)), "with an expired token"},
	} {
		if _, status := dial(tc.query, nil); status == http.StatusSwitchingProtocols {
			t.Fatalf("with CHAT_SECRET set, a handshake %s was upgraded: answer 401 before the upgrade", tc.what)
		} else if status != http.StatusUnauthorized {
			t.Fatalf("with CHAT_SECRET set, a handshake %s got %d: answer 401 before the upgrade", tc.what, status)
		}
	}
	if user, status := dial("?name=mallory&token="+valid, nil); user != "alice" {
		t.Fatalf("?token= signed for alice, with ?name=mallory, got %d as %q: the name comes from the token", status, user)
	}
	if user, status := dial("", http.Header{"Cookie": {"chat_token=" + valid}}); user != "alice" {
		t.Fatalf("the cookie chat_token signed for alice got %d as %q: read the token from the cookie too", status, user)
	}

	// `step4-rooms token alice`: main, run by a child process of this test.
	runMain := func(env ...string) (stdout, stderr string, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestExerciseSignedName$")
		cmd.Env = append(os.Environ(), append(env, "EXERCISE_RUN_MAIN=1")...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, _, err := runMain()
	token := strings.TrimSpace(out)
	if user, status := dial("?token="+token, nil); err != nil || user != "alice" {
		t.Fatalf("`step4-rooms token alice` printed %q (%v), which got %d as %q: print a token signed with CHAT_SECRET", out, err, status, user)
	}
	if out, errOut, err := runMain("CHAT_SECRET="); err == nil || out != "" || errOut == "" || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("`step4-rooms token alice` without CHAT_SECRET printed %q and %q (%v): exit with a one-line usage error", out, errOut, err)
	}
}
