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
	"github.com/gorilla/websocket"
)

const (
	notConfirmedNotice = `{"notice":"Your last message could not be confirmed: Redis did not answer. It may still arrive."}`
	// promptly bounds what should take no time at all, with room for a busy machine.
	promptly = time.Second
)

// A hung Redis (kill -STOP: connections open, nothing answered) costs a
// sender publishTimeout and an honest notice, once: later messages are
// refused at once, until Redis answers again.
func TestAHungRedisIsReportedWithinPublishTimeout(t *testing.T) {
	t.Parallel() // it waits for timeouts; it shares nothing with the others
	p := newTestRedis(t).through(t)
	inst := startInstance(t, clientFor(t, "redis://"+p.addr()))
	conn := dial(t, inst.url)
	waitFor(t, "the client", func() bool { return numClients(inst.hub) == 1 })
	conn.WriteMessage(websocket.TextMessage, []byte("before")) // so that a connection is open
	readLines(t, conn, 1)

	p.freeze(true)
	start := time.Now()
	conn.WriteMessage(websocket.TextMessage, []byte("in the hang"))
	if got, err := tryReadLines(conn, 1); err != nil || got[0] != notConfirmedNotice {
		t.Fatalf("got %q, %v; want the could-not-be-confirmed notice", got, err)
	}
	if took := time.Since(start); took > publishTimeout+promptly {
		t.Errorf("the notice came after %v, want publishTimeout (%v)", took, publishTimeout)
	}
	start = time.Now()
	conn.WriteMessage(websocket.TextMessage, []byte("still hung"))
	if got := readLines(t, conn, 1); got[0] != notSentNotice {
		t.Fatalf("got %q, want the not-sent notice", got)
	}
	if took := time.Since(start); took > promptly {
		t.Errorf("the second notice came after %v, want it at once", took)
	}

	// Redis resumes: the first message was carried out after all, as the
	// notice said it might be, and the chat goes on.
	p.freeze(false)
	if got := readLines(t, conn, 1); got[0] != "in the hang" {
		t.Fatalf("after the hang got %q", got)
	}
	waitFor(t, "the subscription to be confirmed again", inst.hub.isSubscribed)
	conn.WriteMessage(websocket.TextMessage, []byte("after"))
	if got := readLines(t, conn, 1); got[0] != "after" {
		t.Fatalf("got %q", got)
	}
}

func TestShutdownIsBoundedWhileRedisHangs(t *testing.T) {
	p := newTestRedis(t).through(t)
	inst := startInstance(t, clientFor(t, "redis://"+p.addr()))
	conns := []*websocket.Conn{dial(t, inst.url), dial(t, inst.url)}
	waitFor(t, "2 clients", func() bool { return numClients(inst.hub) == 2 })
	p.freeze(true)
	conns[0].WriteMessage(websocket.TextMessage, []byte("into the hang")) // a PUBLISH that waits

	start := time.Now()
	inst.shutdown()
	if took := time.Since(start); took > shutdownTimeout {
		t.Errorf("shutdown took %v, want at most shutdownTimeout (%v)", took, shutdownTimeout)
	}
	for _, c := range conns {
		if code := closeCode(t, c); code != websocket.CloseGoingAway {
			t.Errorf("close code = %d, want %d", code, websocket.CloseGoingAway)
		}
	}
}

// Starting against a hung Redis at the fallback address neither waits for
// it nor takes it for an embedded one.
func TestStartingWithAHungRedisDoesNotWait(t *testing.T) {
	p := newTestRedis(t).through(t)
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
// out: it is not sent again, so no message arrives twice.
func TestALostAnswerIsNotPublishedTwice(t *testing.T) {
	r := newTestRedis(t)
	p := r.through(t)
	a := startInstance(t, clientFor(t, "redis://"+p.addr()))
	b := startInstanceOn(t, r)
	onA, onB := dial(t, a.url), dial(t, b.url)
	waitFor(t, "a client on each", func() bool { return numClients(a.hub) == 1 && numClients(b.hub) == 1 })

	onA.WriteMessage(websocket.TextMessage, []byte("before")) // so that a connection is open
	readLines(t, onA, 1)
	readLines(t, onB, 1)

	p.loseNextAnswer()
	onA.WriteMessage(websocket.TextMessage, []byte("once"))
	// The sender hears that its message could not be confirmed; then a
	// message from B marks the end of what "once" could have caused.
	got := map[*websocket.Conn][]string{}
	for !slices.Contains(got[onA], notConfirmedNotice) {
		got[onA] = append(got[onA], readSome(t, onA)...)
	}
	waitFor(t, "A to confirm its subscription again", a.hub.isSubscribed)
	onB.WriteMessage(websocket.TextMessage, []byte("after"))
	for _, c := range []*websocket.Conn{onA, onB} {
		for len(got[c]) == 0 || got[c][len(got[c])-1] != "after" {
			got[c] = append(got[c], readSome(t, c)...)
		}
		if n := slices.Index(got[c], "once"); n >= 0 && slices.Contains(got[c][n+1:], "once") {
			t.Errorf("a client got %q: \"once\" twice", got[c])
		}
	}
}

// What is wrong with Redis is logged in its own words, once, however many
// messages fail meanwhile.
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
			inst := newInstance(t, clientFor(t, "redis://"+tc.addr), true)
			conn := dial(t, inst.url)
			for i := 0; i < 3; i++ {
				conn.WriteMessage(websocket.TextMessage, []byte("hello?"))
				if got := readLines(t, conn, 1); got[0] != notSentNotice {
					t.Fatalf("got %q, want the not-sent notice", got)
				}
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

// readSome reads at least one line, and every line of the frames it reads,
// as readLines does.
func readSome(t *testing.T, conn *websocket.Conn) []string {
	t.Helper()
	lines, err := tryReadLines(conn, 1)
	if err != nil && len(lines) <= 1 {
		t.Fatal(err)
	}
	return lines
}
