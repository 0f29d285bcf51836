package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testConfig is a small, fast run against urls: 200ms of sending, with a
// drain long enough never to end a passing test early (it ends as soon as
// everything has arrived).
func testConfig(urls ...string) config {
	return config{
		servers:        urls,
		clients:        8,
		senders:        3,
		rate:           300,
		duration:       200 * time.Millisecond,
		drain:          5 * time.Second,
		connectTimeout: 5 * time.Second,
		protocol:       protocolText,
		room:           "load",
		rooms:          1,
	}
}

// runLoad runs the load generator in-process.
func runLoad(t *testing.T, cfg config) (*summary, error) {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatalf("bad test config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return execute(ctx, cfg, io.Discard)
}

// checkComplete checks a run in which every message reached every client once.
func checkComplete(t *testing.T, s *summary, cfg config) {
	t.Helper()
	if s.Sent == 0 {
		t.Fatal("nothing was sent")
	}
	// The senders are paced: about rate × duration messages, give or take
	// a tick per sender (and a slow race-detector run may lose a few).
	if planned := int64(cfg.rate * cfg.duration.Seconds()); s.Sent > planned+int64(cfg.senders) {
		t.Errorf("sent %d messages, more than the %d the rate allows", s.Sent, planned)
	}
	if want := s.Sent * int64(cfg.clients); cfg.rooms <= 1 && s.Expected != want {
		t.Errorf("expected = %d, want sent × clients = %d", s.Expected, want)
	}
	if s.Received != s.Expected || s.Lost != 0 || s.Duplicates != 0 {
		t.Errorf("received %d of %d, lost %d, duplicates %d; want all, no loss, no duplicates",
			s.Received, s.Expected, s.Lost, s.Duplicates)
	}
	if s.Disconnected != 0 {
		t.Errorf("disconnected = %d (%v), want 0", s.Disconnected, s.DisconnectReasons)
	}
	if s.LatencyP50Ms <= 0 || s.LatencyP50Ms > s.LatencyP99Ms || s.LatencyP99Ms > s.LatencyMaxMs {
		t.Errorf("latency p50 %v, p99 %v, max %v: want 0 < p50 <= p99 <= max",
			s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs)
	}
	if s.DeliveriesPerSec <= 0 {
		t.Errorf("deliveries/s = %v, want > 0", s.DeliveriesPerSec)
	}
}

func TestTextProtocol(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cfg := testConfig(srv.url)
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, cfg)
	if s.Other != 0 {
		t.Errorf("other messages = %d, want 0", s.Other)
	}
}

// Step 3's JSON lines: messages are counted; the Redis state, the notice and
// somebody else's message that every client gets are not (the last shows as
// another message).
func TestStep3JSONLines(t *testing.T) {
	for _, batch := range []int{1, 8} {
		srv := startServer(t, serverOptions{jsonLines: true, batch: batch})
		cfg := testConfig(srv.url)
		if batch > 1 {
			cfg.rate = 1000 // several messages per batchWait, so frames fill up
		}
		s, err := runLoad(t, cfg)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		checkComplete(t, s, cfg)
		if s.Other != int64(cfg.clients) {
			t.Errorf("batch %d: other messages = %d, want %d (one per client)", batch, s.Other, cfg.clients)
		}
		if batch > 1 && srv.multiLine.Load() == 0 {
			t.Error("the server sent no frame with several lines: the test tested nothing")
		}
	}
}

// A server may put several messages in one frame, one per line; each counts.
func TestBatchedFrames(t *testing.T) {
	srv := startServer(t, serverOptions{batch: 8})
	cfg := testConfig(srv.url)
	cfg.rate = 1000 // several messages per batchWait, so frames fill up
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, cfg)
	if srv.multiLine.Load() == 0 {
		t.Error("the server sent no frame with several messages: the test tested nothing")
	}
	if s.MessagesPerFrame <= 1 {
		t.Errorf("messages per frame = %v, want more than 1", s.MessagesPerFrame)
	}
}

// Clients are spread over the servers; with two independent servers (no
// Redis between them) each client only sees the messages sent on its own
// server, which shows as loss: half the deliveries.
func TestSeveralServers(t *testing.T) {
	a, b := startServer(t, serverOptions{}), startServer(t, serverOptions{})
	cfg := testConfig(a.url, b.url)
	cfg.senders = 1 // client 0, on server a
	cfg.connectTimeout = 300 * time.Millisecond
	_, err := runLoad(t, cfg)
	// The probe from client 0 never reaches server b's clients: the setup
	// says so instead of measuring a broken chat.
	if err == nil || !strings.Contains(err.Error(), "4 of 8 clients received a first message") {
		t.Fatalf("err = %v, want a setup timeout saying 4 of 8 clients got the probe", err)
	}
}

func TestRoomsProtocol(t *testing.T) {
	for _, batch := range []int{1, 8} {
		srv := startServer(t, serverOptions{rooms: true, batch: batch})
		cfg := testConfig(srv.url)
		cfg.protocol = protocolRooms
		s, err := runLoad(t, cfg)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		checkComplete(t, s, cfg)
	}
}

// Many rooms: each client gets its own room's messages only, and expects
// exactly what the server delivers: each message times its room's members
// (rooms of 4 and 3 members here, two of them with two senders).
// Every room has members on both listeners, so the test server's shared
// chat, standing for Redis, carries each room across.
func TestManyRooms(t *testing.T) {
	for _, batch := range []int{1, 8} {
		srv := startServer(t, serverOptions{rooms: true, listeners: 2, batch: batch})
		cfg := testConfig(srv.urls...)
		cfg.protocol = protocolRooms
		cfg.clients, cfg.rooms, cfg.senders = 14, 4, 6
		cfg.rate = 600
		s, err := runLoad(t, cfg)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		checkComplete(t, s, cfg)
		if s.Expected != srv.delivered.Load() || s.Expected >= s.Sent*int64(cfg.clients) {
			t.Errorf("batch %d: expected %d, want the %d deliveries the server made (fewer than sent %d × clients)",
				batch, s.Expected, srv.delivered.Load(), s.Sent)
		}
		if s.WrongRoom != 0 || s.Rooms != cfg.rooms {
			t.Errorf("batch %d: wrong room %d, rooms %d; want 0 and %d", batch, s.WrongRoom, s.Rooms, cfg.rooms)
		}
		srv.mu.Lock()
		joins := srv.joins
		srv.mu.Unlock()
		if len(joins) != cfg.rooms {
			t.Errorf("batch %d: clients joined %d rooms (%v), want %d", batch, len(joins), joins, cfg.rooms)
		}
		for room, n := range joins {
			if n[0] == 0 || n[1] == 0 {
				t.Errorf("batch %d: room %s has members %v on the two listeners: want some on each", batch, room, n)
			}
		}
	}
}

// Every room must be proved to work before counting: a room whose messages
// never arrive stops the setup, which names it.
func TestRoomWithoutProbe(t *testing.T) {
	srv := startServer(t, serverOptions{rooms: true, muteRoom: "load-2"})
	cfg := testConfig(srv.url)
	cfg.protocol = protocolRooms
	cfg.rooms = 3 // 8 clients: rooms of 3, 3 and 2
	cfg.connectTimeout = 500 * time.Millisecond
	_, err := runLoad(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "6 of 8 clients received a first message") ||
		!strings.Contains(err.Error(), "1 of 3 rooms incomplete: load-2 (0 of 2)") {
		t.Fatalf("err = %v, want a setup timeout naming room load-2", err)
	}
}

// A server that delivers messages to other rooms' members: those are
// counted apart, and are not deliveries.
func TestRoomsMixedUp(t *testing.T) {
	srv := startServer(t, serverOptions{rooms: true, leakRooms: true})
	cfg := testConfig(srv.url)
	cfg.protocol = protocolRooms
	cfg.rooms = 2 // rooms of 4; senders 0 and 2 in room 0, 1 in room 1
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, cfg)
	// Every client got every message: its room's count, the others are wrong.
	if want := s.Sent*int64(cfg.clients) - s.Expected; s.WrongRoom != want || want == 0 {
		t.Errorf("wrong room = %d, want %d", s.WrongRoom, want)
	}
}

// A step 4 server that answers the join with an error: the setup stops
// and shows the server's error object.
func TestRoomsJoinRefused(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := testUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.ReadMessage() // the join
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"error","text":"room is full"}`))
		ws.ReadMessage() // until the client hangs up
	}))
	defer refuse.Close()
	cfg := testConfig("ws" + strings.TrimPrefix(refuse.URL, "http") + "/ws")
	cfg.protocol = protocolRooms
	_, err := runLoad(t, cfg)
	if err == nil || !strings.Contains(err.Error(), `refused to join room "load"`) || !strings.Contains(err.Error(), "room is full") {
		t.Fatalf("err = %v, want the refusal with the server's error", err)
	}
}

// Loss and duplicates are counted per delivery, exactly as the server
// dropped and duplicated them.
func TestLossAndDuplicates(t *testing.T) {
	srv := startServer(t, serverOptions{
		batch: 4,
		copies: func(conn, sender int, seq int64) int {
			switch {
			case conn == 1 && seq%5 == 0:
				return 0
			case conn == 2 && seq%7 == 3:
				return 2
			case conn == 3 && sender == 0 && seq%2 == 1:
				return 3
			}
			return 1
		},
	})
	cfg := testConfig(srv.url)
	cfg.drain = 300 * time.Millisecond // lost messages never come: the drain runs out
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lost != srv.dropped.Load() || s.Lost == 0 {
		t.Errorf("lost = %d, want %d (the server's drops, more than 0)", s.Lost, srv.dropped.Load())
	}
	if s.Duplicates != srv.duplicated.Load() || s.Duplicates == 0 {
		t.Errorf("duplicates = %d, want %d (the server's extra copies, more than 0)", s.Duplicates, srv.duplicated.Load())
	}
	if s.Received+s.Lost != s.Expected {
		t.Errorf("received %d + lost %d != expected %d", s.Received, s.Lost, s.Expected)
	}
	if s.Disconnected != 0 {
		t.Errorf("disconnected = %d, want 0", s.Disconnected)
	}
}

// A client that the server drops mid-run is counted, its missing messages
// are loss, and the run goes on.
func TestDisconnectMidRun(t *testing.T) {
	srv := startServer(t, serverOptions{
		kick: func(conn, written int) bool { return conn == 5 && written >= 10 },
	})
	cfg := testConfig(srv.url)
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Disconnected != 1 || s.DisconnectReasons["server closed with 1008: too slow"] != 1 {
		t.Errorf("disconnected = %d %v, want 1 closed with 1008", s.Disconnected, s.DisconnectReasons)
	}
	if s.Lost == 0 || s.Received+s.Lost != s.Expected {
		t.Errorf("lost %d, received %d, expected %d: want the dropped client's messages lost", s.Lost, s.Received, s.Expected)
	}
	// Everybody else got everything: the loss is less than one client's share.
	if s.Lost >= s.Sent {
		t.Errorf("lost %d, more than one client's %d", s.Lost, s.Sent)
	}
}

func TestServerDown(t *testing.T) {
	// A port that nobody listens on: listen, note it, stop.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + l.Addr().String() + "/ws"
	l.Close()

	start := time.Now()
	_, err = runLoad(t, testConfig(url))
	if err == nil || !strings.Contains(err.Error(), "cannot connect to "+url+": connection refused") {
		t.Fatalf("err = %v, want connection refused for %s", err, url)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v to give up on a server that is down", time.Since(start))
	}
}

func TestUpgradeRefused(t *testing.T) {
	forbid := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "origin not allowed\nsecond line", http.StatusForbidden)
	}))
	defer forbid.Close()
	url := "ws" + strings.TrimPrefix(forbid.URL, "http") + "/ws"
	_, err := runLoad(t, testConfig(url))
	want := url + " refused the WebSocket upgrade: HTTP 403 Forbidden: origin not allowed"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestClosedDuringSetup(t *testing.T) {
	srv := startServer(t, serverOptions{closeAtOnce: true})
	_, err := runLoad(t, testConfig(srv.url))
	if err == nil || !strings.Contains(err.Error(), srv.url+" closed the connection during setup: server closed with 1013: not now") {
		t.Fatalf("err = %v, want the server's close reason", err)
	}
}

// A server that stops relaying and never answers a close frame cannot keep
// the run going: it ends after duration + drain + closeWait.
func TestStopsWithinBounds(t *testing.T) {
	srv := startServer(t, serverOptions{deaf: true})
	cfg := testConfig(srv.url)
	cfg.duration = 100 * time.Millisecond
	cfg.drain = 200 * time.Millisecond
	start := time.Now()
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if limit := cfg.duration + cfg.drain + closeWait + 500*time.Millisecond; elapsed > limit {
		t.Errorf("the run took %v, more than its bound %v", elapsed, limit)
	}
	if s.Received != 0 || s.Lost != s.Expected || s.Expected == 0 {
		t.Errorf("received %d, lost %d of %d: want everything lost", s.Received, s.Lost, s.Expected)
	}
}

// -senders 0 holds idle connections for the duration and reports them.
func TestIdle(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cfg := testConfig(srv.url)
	cfg.senders = 0
	cfg.clients = 50
	cfg.duration = 100 * time.Millisecond
	s, err := runLoad(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent != 0 || s.Expected != 0 || s.Disconnected != 0 || s.Clients != 50 {
		t.Errorf("idle run: sent %d, expected %d, disconnected %d, clients %d", s.Sent, s.Expected, s.Disconnected, s.Clients)
	}
}

// The command's output and exit codes, which scripts rely on.
func TestMainJSONAndExitCodes(t *testing.T) {
	srv := startServer(t, serverOptions{})
	var stdout, stderr bytes.Buffer
	code := mainExit([]string{"-servers", srv.url, "-clients", "4", "-senders", "2", "-rate", "100",
		"-duration", "100ms", "-json", "-quiet"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	var s map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	for _, key := range []string{"sent", "expected", "received", "lost", "duplicates", "deliveries_per_s",
		"latency_p50_ms", "latency_p99_ms", "latency_max_ms", "disconnected"} {
		if _, ok := s[key]; !ok {
			t.Errorf("JSON summary has no %q", key)
		}
	}
	if s["lost"] != 0.0 {
		t.Errorf("lost = %v, want 0", s["lost"])
	}

	stdout.Reset()
	if code := mainExit([]string{"-servers", srv.url, "-clients", "4", "-senders", "2", "-rate", "100",
		"-duration", "100ms", "-quiet"}, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stdout.String(), "0 lost (0.000%), 0 duplicates") {
		t.Errorf("exit code %d, human summary:\n%s", code, stdout.String())
	}

	if code := mainExit([]string{"-senders", "5", "-clients", "2"}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("bad flags: exit code %d, want %d", code, exitUsage)
	}
	stderr.Reset()
	if code := mainExit([]string{"-servers", "ws://127.0.0.1:1/ws", "-quiet"}, io.Discard, &stderr); code != exitSetup ||
		!strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("server down: exit code %d, stderr %q", code, stderr.String())
	}
}
