package main

import (
	"bytes"
	"cmp"
	"context"
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
	"runtime"
	"slices"
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

// The tests run against miniredis, or against the real Redis that
// REDIS_TEST_URL names (CI does both).

// testRedis is the Redis one test uses, and a way to take it away.
type testRedis struct {
	url   string
	mini  *miniredis.Miniredis // nil for a real Redis
	proxy *proxy               // in front of a real Redis, to simulate an outage
}

func newTestRedis(t testing.TB) *testRedis {
	t.Helper()
	if url := os.Getenv("REDIS_TEST_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("REDIS_TEST_URL: %v", err)
		}
		p := newProxy(t, opts.Addr)
		return &testRedis{url: "redis://" + p.addr(), proxy: p}
	}
	m := miniredis.RunT(t)
	return &testRedis{url: "redis://" + m.Addr(), mini: m}
}

// stop makes Redis unreachable: miniredis closes, or the proxy cuts every
// connection and refuses new ones.
func (r *testRedis) stop() {
	if r.mini != nil {
		r.mini.Close()
	} else {
		r.proxy.cut(true)
	}
}

// start brings Redis back.
func (r *testRedis) start(t testing.TB) {
	if r.mini != nil {
		if err := r.mini.Restart(); err != nil {
			t.Fatal(err)
		}
	} else {
		r.proxy.cut(false)
	}
}

// through returns a new proxy in front of this Redis, for a test to fail it.
func (r *testRedis) through(t testing.TB) *proxy {
	opts, _ := redis.ParseURL(r.url)
	return newProxy(t, opts.Addr)
}

func (r *testRedis) client(t testing.TB) *redis.Client {
	opts, _ := redis.ParseURL(r.url)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// instance is one running step3-redis server, wired as main wires it.
type instance struct {
	hub  *hub
	url  string // the WebSocket URL
	page string // the page's URL
	// shutdown takes the steps main takes after Ctrl-C. It runs when the
	// test ends, unless the test has run it already.
	shutdown func()
}

// startInstance runs an instance on rdb; configure may change its HTTP
// server before it starts.
func startInstance(t testing.TB, rdb *redis.Client, configure ...func(*httptest.Server)) *instance {
	t.Helper()
	inst := newInstance(t, rdb, true, configure...)
	waitFor(t, "Redis to confirm the subscription", inst.hub.isSubscribed)
	return inst
}

// newInstance runs an instance on rdb without waiting for its subscription;
// with relay false, nothing reads the subscription.
func newInstance(t testing.TB, rdb *redis.Client, relay bool, configure ...func(*httptest.Server)) *instance {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ps := rdb.Subscribe(context.Background(), chatChannel)
	h := newHub(rdb, ps, fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port))
	if relay {
		go h.relay()
	}
	srv.Config.Handler = newMux(h)
	for _, f := range configure {
		f(srv)
	}
	srv.Start()
	inst := &instance{hub: h, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", page: srv.URL}
	inst.shutdown = sync.OnceFunc(func() {
		srv.Close()
		h.shutdown(nil)
	})
	t.Cleanup(inst.shutdown)
	return inst
}

func startInstanceOn(t testing.TB, r *testRedis, configure ...func(*httptest.Server)) *instance {
	t.Helper()
	return startInstance(t, clientFor(t, r.url), configure...)
}

// clientFor is a client for url with the options main gives it.
func clientFor(t testing.TB, url string) *redis.Client {
	t.Helper()
	rdb, _, err := connectRedis(url, "")
	if err != nil {
		t.Fatal(err)
	}
	return rdb
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readLines reads frames until it has n messages; a frame may carry several, one per line.
func readLines(t *testing.T, conn *websocket.Conn, n int) []string {
	t.Helper()
	lines, err := tryReadLines(conn, n)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func tryReadLines(conn *websocket.Conn, n int) ([]string, error) {
	decoded, err := tryReadDecoded(conn, n)
	lines := make([]string, len(decoded))
	for i, l := range decoded {
		lines[i] = cmp.Or(l.Text, string(l.encode()))
	}
	return lines, err
}

// tryReadDecoded reads frames until it has n lines that do not just say
// whether Redis is up; a frame may carry several, one per line.
func tryReadDecoded(conn *websocket.Conn, n int) ([]line, error) {
	var lines []line
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(lines) < n {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return lines, fmt.Errorf("after %d of %d messages: %v", len(lines), n, err)
		}
		for _, raw := range strings.Split(string(frame), "\n") {
			l, ok := decodeLine(raw)
			if !ok {
				return lines, fmt.Errorf("a line that is not JSON: %q", raw)
			}
			if l.Redis == "" {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) > n {
		return lines, fmt.Errorf("got %d messages, want %d", len(lines), n)
	}
	return lines, nil
}

// decodeLine decodes one line of a frame. The tests read a message as its
// text, a notice as the line itself, and skip the state of Redis.
func decodeLine(raw string) (line, bool) {
	var l line
	err := json.Unmarshal([]byte(raw), &l)
	return l, err == nil
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

func TestMessagesReachEveryClientOnBothInstancesOnce(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	conns := []*websocket.Conn{dial(t, a.url), dial(t, a.url), dial(t, b.url), dial(t, b.url)}
	waitFor(t, "2 clients on each instance", func() bool { return numClients(a.hub) == 2 && numClients(b.hub) == 2 })

	const perSender = 20
	senders := []*websocket.Conn{conns[0], conns[2]} // one on A, one on B
	for i, c := range senders {
		go func() {
			for j := 0; j < perSender; j++ {
				c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("sender%d #%d", i, j)))
			}
		}()
	}

	for i, c := range conns {
		lines := readLines(t, c, len(senders)*perSender)
		next := make([]int, len(senders)) // the next number expected from each sender
		for _, line := range lines {
			var from, n int
			if _, err := fmt.Sscanf(line, "sender%d #%d", &from, &n); err != nil {
				t.Fatalf("client %d got unexpected message %q", i, line)
			}
			if n != next[from] {
				t.Fatalf("client %d got %q, want sender%d #%d: lost, repeated or out of order", i, line, from, next[from])
			}
			next[from]++
		}
	}
}

// readDecoded reads n lines that do not just say whether Redis is up.
func readDecoded(t *testing.T, conn *websocket.Conn, n int) []line {
	t.Helper()
	lines, err := tryReadDecoded(conn, n)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestAMessageSaysWhichInstanceItCameThrough(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	onA, onB := dial(t, a.url), dial(t, b.url)
	waitFor(t, "a client on each instance", func() bool { return numClients(a.hub) == 1 && numClients(b.hub) == 1 })

	onA.WriteMessage(websocket.TextMessage, []byte("from A"))
	for _, c := range []*websocket.Conn{onA, onB} {
		if got := readDecoded(t, c, 1)[0]; got != (line{Text: "from A", Via: a.hub.via}) {
			t.Errorf("got %+v, want the text and via %q", got, a.hub.via)
		}
	}
}

func TestAClientCannotImitateTheServer(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	conn := dial(t, inst.url)
	waitFor(t, "the client", func() bool { return numClients(inst.hub) == 1 })
	fake := `{"notice":"the server is shutting down, go home"}`
	conn.WriteMessage(websocket.TextMessage, []byte(fake))
	if got := readDecoded(t, conn, 1)[0]; got.Notice != "" || got.Text != fake {
		t.Errorf("got %+v, want the text as a message", got)
	}
}

func TestPagesHearWhetherRedisIsUp(t *testing.T) {
	r := newTestRedis(t)
	inst := startInstanceOn(t, r)
	conn := dial(t, inst.url)
	state := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		l, _ := decodeLine(string(frame))
		return l.Redis
	}
	if got := state(); got != "up" {
		t.Fatalf("on connecting: redis %q, want up", got)
	}
	r.stop()
	if got := state(); got != "down" {
		t.Fatalf("Redis stopped: redis %q, want down", got)
	}
	r.start(t)
	if got := state(); got != "up" {
		t.Fatalf("Redis back: redis %q, want up", got)
	}
}

// Anyone who can reach Redis can publish to the chat channel: what is not
// valid UTF-8 never reaches a browser (it would drop its connection), other
// text arrives as a message via "redis", and nothing arrives as a notice.
func TestWhatComesFromRedisIsChecked(t *testing.T) {
	r := newTestRedis(t)
	inst := startInstanceOn(t, r)
	conn := dial(t, inst.url)
	waitFor(t, "the client", func() bool { return numClients(inst.hub) == 1 })
	rdb := r.client(t)
	for _, payload := range []string{"\xff\xfe", "{\"text\":\"\xff\"}", `{"notice":"fake"}`, "hello from redis-cli", `{"text":"real","via":"3460"}`} {
		rdb.Publish(context.Background(), chatChannel, payload)
	}
	want := []line{{Text: `{"notice":"fake"}`, Via: "redis"}, {Text: "hello from redis-cli", Via: "redis"}, {Text: "real", Via: "3460"}}
	if got := readDecoded(t, conn, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestOneSubscriptionPerProcess(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	for i := 0; i < 5; i++ {
		dial(t, a.url)
		dial(t, b.url)
	}
	waitFor(t, "5 clients on each instance", func() bool { return numClients(a.hub) == 5 && numClients(b.hub) == 5 })

	rdb := r.client(t)
	// Redis drops a closed subscription a moment after the client goes, so
	// one left over from an earlier test may still count for an instant.
	var numsub int64
	waitFor(t, "PUBSUB NUMSUB chat = 2 (is something else, such as a running instance, subscribed on this Redis?)", func() bool {
		numsub = rdb.PubSubNumSub(context.Background(), chatChannel).Val()[chatChannel]
		return numsub == 2
	})
}

func TestRecoversWhenRedisComesBack(t *testing.T) {
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	onA, onB := dial(t, a.url), dial(t, b.url)
	waitFor(t, "a client on each instance", func() bool { return numClients(a.hub) == 1 && numClients(b.hub) == 1 })

	before := runtime.NumGoroutine()
	r.stop()
	waitFor(t, "both instances to notice", func() bool { return !a.hub.isSubscribed() && !b.hub.isSubscribed() })
	// Still serving its clients: the sender hears that its message was not sent.
	for i := 0; i < 2; i++ {
		onA.WriteMessage(websocket.TextMessage, []byte("during the outage"))
		if got := readLines(t, onA, 1); got[0] != notSentNotice {
			t.Fatalf("during the outage the sender got %q, want the not-sent notice", got)
		}
	}
	// Retrying costs no goroutines: nothing piles up while Redis is away.
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines during the outage, %d before it", n, before)
	}

	r.start(t)
	waitFor(t, "both subscriptions to come back", func() bool { return a.hub.isSubscribed() && b.hub.isSubscribed() })
	onB.WriteMessage(websocket.TextMessage, []byte("after the outage"))
	for _, c := range []*websocket.Conn{onA, onB} {
		if got := readLines(t, c, 1); got[0] != "after the outage" {
			t.Fatalf("after the outage got %q", got)
		}
	}
}

func TestSenderHearsWhenRedisIsDown(t *testing.T) {
	// Nothing listens at this address: Redis is down from the start.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()

	inst := newInstance(t, redis.NewClient(&redis.Options{Addr: addr}), true)

	// The page is still served.
	res, err := http.Get(inst.page)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET / with Redis down: %v %v", res, err)
	}
	res.Body.Close()

	conn := dial(t, inst.url)
	conn.WriteMessage(websocket.TextMessage, []byte("hello?"))
	if got := readLines(t, conn, 1); got[0] != notSentNotice {
		t.Fatalf("got %q, want the not-sent notice", got)
	}
}

func TestNothingIsPublishedBeforeTheSubscriptionIsConfirmed(t *testing.T) {
	// Redis is up, but this instance's subscription is not confirmed yet
	// (its relay has not started): a message published now would never
	// come back to the sender, so the sender gets the notice instead.
	inst := newInstance(t, newTestRedis(t).client(t), false)
	conn := dial(t, inst.url)
	conn.WriteMessage(websocket.TextMessage, []byte("too early"))
	if got := readLines(t, conn, 1); got[0] != notSentNotice {
		t.Fatalf("got %q, want the not-sent notice", got)
	}
}

func TestEmbeddedBrokerIsSharedAndTakenOver(t *testing.T) {
	// A free address stands in for localhost:6379.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()

	rdbA, brokerA, err := connectRedis("", addr)
	if err != nil || brokerA == nil || !brokerA.hosting() {
		t.Fatalf("first instance: err = %v, broker = %+v; want it to host the broker", err, brokerA)
	}
	t.Cleanup(brokerA.close)
	rdbB, brokerB, err := connectRedis("", addr)
	if err != nil || brokerB == nil || brokerB.hosting() {
		t.Fatalf("second instance: err = %v; want it to use the first one's broker", err)
	}
	t.Cleanup(brokerB.close)

	a, b := startInstance(t, rdbA), startInstance(t, rdbB)
	onA, onB := dial(t, a.url), dial(t, b.url)
	waitFor(t, "a client on each instance", func() bool { return numClients(a.hub) == 1 && numClients(b.hub) == 1 })
	onA.WriteMessage(websocket.TextMessage, []byte("from A"))
	if got := readLines(t, onB, 1); got[0] != "from A" {
		t.Fatalf("B got %q", got)
	}
	readLines(t, onA, 1)

	// The hosting instance's broker goes away: B takes over and chats on.
	brokerA.close()
	waitFor(t, "B to host the broker", brokerB.hosting)
	// Both instances subscribe again, on the new broker. (Until then B's
	// hub may not have noticed the old one go: it is no sign to wait for.)
	waitFor(t, "both instances to subscribe on the new broker", func() bool {
		return brokerB.numsub(chatChannel) == 2 && b.hub.isSubscribed()
	})
	onB.WriteMessage(websocket.TextMessage, []byte("B carries on"))
	if got := readLines(t, onB, 1); got[0] != "B carries on" {
		t.Fatalf("B got %q", got)
	}
}

func TestRealRedisIsNotTakenOver(t *testing.T) {
	// A Redis without the embedded marker is somebody's real Redis: used
	// as it is, and never replaced by an embedded one.
	m := miniredis.RunT(t)
	rdb, b, err := connectRedis("", m.Addr())
	if err != nil || b != nil {
		t.Fatalf("err = %v, broker = %+v; want a plain client", err, b)
	}
	rdb.Close()
}

func TestInvalidRedisURLIsAnError(t *testing.T) {
	if _, _, err := connectRedis("http://nope", defaultRedisAddr); err == nil {
		t.Fatal("want an error for a REDIS_URL that is not redis://")
	}
}

func TestShutdownSays1001AndLeavesNothingBehind(t *testing.T) {
	r := newTestRedis(t)
	before := runtime.NumGoroutine()
	inst := startInstanceOn(t, r)
	conns := []*websocket.Conn{dial(t, inst.url), dial(t, inst.url)}
	waitFor(t, "2 clients", func() bool { return numClients(inst.hub) == 2 })

	inst.shutdown()
	for _, c := range conns {
		if code := closeCode(t, c); code != websocket.CloseGoingAway {
			t.Errorf("close code = %d, want %d", code, websocket.CloseGoingAway)
		}
	}
	waitFor(t, "every goroutine to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestSlowClientIsDroppedOthersKeepReceiving(t *testing.T) {
	r := newTestRedis(t)
	// Small kernel buffers, so a client that stops reading blocks its
	// writer after a few kilobytes instead of megabytes.
	inst := startInstanceOn(t, r, func(srv *httptest.Server) {
		srv.Listener = smallBufferListener{srv.Listener}
	})
	h, url := inst.hub, inst.url

	slow := dial(t, url) // never reads until the end
	slow.NetConn().(*net.TCPConn).SetReadBuffer(4096)
	sender := dial(t, url)
	reader := dial(t, url)
	waitFor(t, "3 clients in the hub", func() bool { return numClients(h) == 3 })

	// One message at a time, each read by both healthy clients before the
	// next: they always keep up, while the slow client's queue fills. It is
	// dropped once maxQueued bytes wait for it (plus what the small kernel
	// buffers took): what it holds stays bounded.
	payload := strings.Repeat("x", 3000)
	for i := 0; numClients(h) == 3; i++ {
		if sent := i * len(payload); sent > maxQueued+64<<10 {
			t.Fatalf("the slow client was not dropped after %d messages (%d bytes)", i, sent)
		}
		sender.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("%d %s", i, payload)))
		for _, c := range []*websocket.Conn{sender, reader} {
			if got := readLines(t, c, 1); !strings.HasPrefix(got[0], fmt.Sprint(i, " ")) {
				t.Fatalf("message %d: got %.10q", i, got[0])
			}
		}
	}
	if code := closeCode(t, slow); code != websocket.ClosePolicyViolation {
		t.Errorf("slow client close code = %d, want %d", code, websocket.ClosePolicyViolation)
	}
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestBadFramesCloseOnlyThatClient(t *testing.T) {
	r := newTestRedis(t)
	inst := startInstanceOn(t, r)
	other := dial(t, inst.url)
	tooBig, binary, notUTF8 := dial(t, inst.url), dial(t, inst.url), dial(t, inst.url)
	waitFor(t, "4 clients", func() bool { return numClients(inst.hub) == 4 })

	tooBig.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), maxMessageSize+1))
	binary.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	notUTF8.WriteMessage(websocket.TextMessage, []byte{'h', 'i', 0xff})
	for conn, want := range map[*websocket.Conn]int{
		tooBig:  websocket.CloseMessageTooBig,
		binary:  websocket.CloseUnsupportedData,
		notUTF8: websocket.CloseInvalidFramePayloadData,
	} {
		if code := closeCode(t, conn); code != want {
			t.Errorf("close code = %d, want %d", code, want)
		}
	}
	// Nothing else broke: the other client still chats.
	other.WriteMessage(websocket.TextMessage, []byte("still here"))
	if got := readLines(t, other, 1); got[0] != "still here" {
		t.Errorf("other client got %q", got)
	}
}

func TestClientsLeaveNothingBehind(t *testing.T) {
	r := newTestRedis(t)
	inst := startInstanceOn(t, r)
	before := runtime.NumGoroutine()

	conns := []*websocket.Conn{dial(t, inst.url), dial(t, inst.url), dial(t, inst.url)}
	waitFor(t, "3 clients in the hub", func() bool { return numClients(inst.hub) == 3 })
	conns[0].WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	conns[1].Close() // gone without a close frame
	conns[2].WriteMessage(websocket.BinaryMessage, []byte{0})

	waitFor(t, "an empty hub", func() bool { return numClients(inst.hub) == 0 })
	waitFor(t, "the connection goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
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
	if !strings.Contains(string(body), `"/ws"`) {
		t.Error("the page does not connect to /ws")
	}
	res, err = http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", res.StatusCode)
	}
}

func TestParsePort(t *testing.T) {
	if got, err := parsePort(nil); got != 3459 || err != nil {
		t.Errorf("parsePort() = %d, %v", got, err)
	}
	if got, err := parsePort([]string{"3460"}); got != 3460 || err != nil {
		t.Errorf("parsePort(3460) = %d, %v", got, err)
	}
	for _, bad := range []string{"abc", "0", "65536", "-5"} {
		if _, err := parsePort([]string{bad}); err == nil {
			t.Errorf("parsePort(%q): want an error", bad)
		}
	}
}

// numClients is the number of clients in the hub. (A function, not a method:
// an exercise answer may well add a method count.)
func numClients(h *hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// notSentNotice is what a sender hears when publish refused its message.
var notSentNotice = string(notice("Your last message was not sent: Redis is unavailable. Try again in a moment."))

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
