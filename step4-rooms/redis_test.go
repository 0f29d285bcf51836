package main

import (
	"bytes"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

const (
	notSentError      = "message not sent: Redis is unavailable, try again in a moment"
	notConfirmedError = "message not confirmed: Redis did not answer; it may still arrive"
	// promptly bounds what should take no time at all, with room for a busy machine.
	promptly = time.Second
)

// A hung Redis (kill -STOP: connections open, nothing answered) costs a
// sender publishTimeout and an honest error, once: later messages are
// refused at once, until Redis answers again.
func TestAHungRedisIsReportedWithinPublishTimeout(t *testing.T) {
	t.Parallel() // it waits for timeouts; it shares nothing with the others
	r := newTestRedis(t)
	p, rdb := r.through(t)
	a := startInstance(t, rdb)
	alice := connect(t, a, "alice")
	alice.join("lobby")
	alice.say("lobby", "before") // so that a connection is open
	alice.expectMessage("lobby", "before")

	p.freeze(true)
	start := time.Now()
	alice.say("lobby", "in the hang")
	// Redis may not be sending the room's messages either: alice hears
	// that they may be missed, until it confirms the subscription again.
	alice.expectRedis("down", "lobby")
	alice.expectError(notConfirmedError)
	if took := time.Since(start); took > publishTimeout+promptly {
		t.Errorf("the error came after %v, want publishTimeout (%v)", took, publishTimeout)
	}
	start = time.Now()
	alice.say("lobby", "still hung")
	alice.expectError(notSentError)
	if took := time.Since(start); took > promptly {
		t.Errorf("the second error came after %v, want it at once", took)
	}

	// Redis resumes: the first message was carried out after all, as the
	// error said it might be; Redis confirms the subscription again, and
	// the chat goes on.
	p.freeze(false)
	alice.expectInAnyOrder(append(ups(!r.cluster, "lobby"), event{Type: "message", Room: "lobby", Text: "in the hang"})...)
	alice.say("lobby", "after")
	alice.expectMessage("lobby", "after")
}

func TestShutdownIsBoundedWhileRedisHangs(t *testing.T) {
	p, rdb := newTestRedis(t).through(t)
	a := startInstance(t, rdb)
	alice, bob := connect(t, a, "alice"), connect(t, a, "bob")
	alice.join("lobby")
	bob.join("lobby")
	p.freeze(true)
	alice.say("lobby", "into the hang") // a PUBLISH that waits

	start := time.Now()
	a.shutdown()
	if took := time.Since(start); took > shutdownTimeout {
		t.Errorf("shutdown took %v, want at most shutdownTimeout (%v)", took, shutdownTimeout)
	}
	for _, c := range []*testClient{alice, bob} {
		if code := closeCode(t, c.conn); code != 1001 {
			t.Errorf("%s: close code = %d, want 1001", c.name, code)
		}
	}
}

// Starting against a hung Redis at the fallback address neither waits for
// it nor takes it for an embedded one.
func TestStartingWithAHungRedisDoesNotWait(t *testing.T) {
	p, _ := newTestRedis(t).through(t)
	p.freeze(true)
	logs := captureLog(t)
	start := time.Now()
	rdb, b, err := connectRedis("", p.addr())
	if err != nil || b != nil {
		t.Fatalf("err = %v, broker = %v; want a plain client", err, b)
	}
	rdb.Close()
	if took := time.Since(start); took > promptly {
		t.Errorf("connectRedis took %v", took)
	}
	if !strings.Contains(logs.String(), "using Redis at "+p.addr()) {
		t.Errorf("log %q, want it to use the Redis there", logs)
	}
}

// A PUBLISH whose answer is lost with its connection may have been carried
// out: it is not sent again, so no message arrives twice (the same id).
func TestALostAnswerIsNotPublishedTwice(t *testing.T) {
	r := newTestRedis(t)
	p, rdb := r.through(t)
	a := startInstance(t, rdb)
	b := startInstanceOn(t, r)
	alice, bob := connect(t, a, "alice"), connect(t, b, "bob")
	alice.join("lobby")
	bob.join("lobby")
	alice.say("lobby", "before") // so that a connection is open
	alice.expectMessage("lobby", "before")
	bob.expectMessage("lobby", "before")

	p.loseNextAnswer()
	alice.say("lobby", "once")
	// alice's requests are carried out one after the other: once the server
	// answers the next one, it is done with "once", retries included. Then
	// a message from bob marks the end of what "once" could have caused.
	alice.send("{not json")
	var got []event
	for ev := alice.next(); ev.Error != "invalid JSON"; ev = alice.next() {
		got = append(got, ev)
	}
	bob.say("lobby", "after")
	for _, c := range []*testClient{alice, bob} {
		if c == bob {
			got = nil
		}
		for ev := c.next(); ev.Text != "after"; ev = c.next() {
			got = append(got, ev)
		}
		n := 0
		for _, ev := range got {
			if ev.Text == "once" {
				n++
			}
		}
		if n > 1 { // once, or, if Redis never carried it out, not at all
			t.Errorf("%s: \"once\" arrived %d times: %+v", c.name, n, got)
		}
		if c == alice && !slices.ContainsFunc(got, func(ev event) bool { return ev.Error == notConfirmedError }) {
			t.Errorf("alice did not hear that her message could not be confirmed: %+v", got)
		}
	}
}

// What is wrong with Redis is logged in its own words, once, however many
// messages fail meanwhile; and a join gets an answer.
func TestTheCauseIsLoggedOnce(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	needsPassword := miniredis.RunT(t)
	needsPassword.RequireAuth("secret")
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)

	for _, tc := range []struct{ what, addr, want string }{
		{"nothing there", closed, "connection refused"},
		{"a password needed", needsPassword.Addr(), "NOAUTH Authentication required."},
		{"not a Redis", strings.TrimPrefix(web.URL, "http://"), "can't parse"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			logs := captureLog(t)
			inst := newInstance(t, clientFor(t, "redis://"+tc.addr))
			alice := connect(t, inst, "alice")
			alice.sendJSON(request{Type: "join", Room: "lobby"})
			alice.expectError("Redis is unavailable")
			for i := 0; i < 3; i++ {
				alice.say("lobby", "hello?")
				alice.expectError("not in room")
			}
			waitFor(t, "the cause in the log", func() bool { return strings.Contains(logs.String(), tc.want) })
			if n := len(linesWith(logs.String(), tc.addr)); n != 2 { // "using Redis at", and the cause
				t.Errorf("%d log lines name %s, want 2:\n%s", n, tc.addr, logs)
			}
		})
	}
}

func TestAPasswordProtectedRedisIsNotClaimedAsEmbedded(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("secret")
	logs := captureLog(t)
	rdb, b, err := connectRedis("", m.Addr())
	if err != nil || b != nil {
		t.Fatalf("err = %v, broker = %v; want a plain client", err, b)
	}
	rdb.Close()
	if s := logs.String(); !strings.Contains(s, "using Redis at "+m.Addr()) || strings.Contains(s, "embedded") {
		t.Errorf("log %q, want it to use the Redis there, and no embedded one", s)
	}
}

// captureLog sends the log to a buffer until the test ends.
func captureLog(t *testing.T) *syncBuffer {
	var b syncBuffer
	prev := log.Writer()
	log.SetOutput(&b)
	t.Cleanup(func() { log.SetOutput(prev) })
	return &b
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linesWith returns the lines of s that contain sub.
func linesWith(s, sub string) []string {
	var found []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			found = append(found, line)
		}
	}
	return found
}
