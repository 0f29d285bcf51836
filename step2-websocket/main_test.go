package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startServer runs the chat on a loopback port for the length of the test.
func startServer(t *testing.T) (*hub, string) {
	t.Helper()
	h := newHub()
	srv := httptest.NewServer(newMux(h))
	t.Cleanup(srv.Close)
	return h, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
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
	var lines []string
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(lines) < n {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return lines, fmt.Errorf("after %d of %d messages: %v", len(lines), n, err)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			if !whoIsHere.MatchString(line) { // not a message (an exercise adds these)
				lines = append(lines, line)
			}
		}
	}
	if len(lines) > n {
		return lines, fmt.Errorf("got %d messages, want %d", len(lines), n)
	}
	return lines, nil
}

// whoIsHere matches a line that says how many people are here.
var whoIsHere = regexp.MustCompile(`^[0-9]+ (people|person) here$`)

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
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

func TestEveryMessageReachesEveryClientOnceInOrder(t *testing.T) {
	h, url := startServer(t)
	const clients, perSender = 3, 50
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, url)
	}
	waitFor(t, "3 clients in the hub", func() bool { return numClients(h) == clients })

	for i, c := range conns {
		go func() {
			for j := 0; j < perSender; j++ {
				c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("client%d #%d", i, j)))
			}
		}()
	}

	for i, c := range conns {
		lines := readLines(t, c, clients*perSender)
		next := make([]int, clients) // the next number expected from each sender
		for _, line := range lines {
			var from, n int
			if _, err := fmt.Sscanf(line, "client%d #%d", &from, &n); err != nil {
				t.Fatalf("client %d got unexpected message %q", i, line)
			}
			if n != next[from] {
				t.Fatalf("client %d got %q, want client%d #%d: lost, repeated or out of order", i, line, from, next[from])
			}
			next[from]++
		}
	}
}

func TestNewlinesInAMessageBecomeSpaces(t *testing.T) {
	h, url := startServer(t)
	conn := dial(t, url)
	waitFor(t, "the client in the hub", func() bool { return numClients(h) == 1 })

	conn.WriteMessage(websocket.TextMessage, []byte("  two\nlines  "))
	conn.WriteMessage(websocket.TextMessage, []byte(" \n ")) // nothing to show: not sent
	conn.WriteMessage(websocket.TextMessage, []byte("<img src=x onerror=alert(1)>"))
	got := readLines(t, conn, 2)
	if got[0] != "two lines" || got[1] != "<img src=x onerror=alert(1)>" {
		t.Errorf("got %q", got)
	}
}

func TestSlowClientIsDroppedOthersKeepReceiving(t *testing.T) {
	h := newHub()
	srv := httptest.NewUnstartedServer(newMux(h))
	// Small kernel buffers, so a client that stops reading blocks its
	// writer after a few kilobytes instead of megabytes.
	srv.Listener = smallBufferListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

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
	// The others are still connected and chatting.
	sender.WriteMessage(websocket.TextMessage, []byte("after"))
	if got := readLines(t, reader, 1); got[0] != "after" {
		t.Errorf("reader got %q after the drop", got)
	}
}

// A client that sends a thousand messages back to back is paced: the
// others, who read all the time as a browser does, are not dropped as too
// slow, and a message sent during the flood reaches them.
func TestAFlooderDoesNotGetTheOthersDropped(t *testing.T) {
	h, url := startServer(t)
	flooder, sender := dial(t, url), dial(t, url)
	readers := make([]*websocket.Conn, 5)
	for i := range readers {
		readers[i] = dial(t, url)
	}
	waitFor(t, "7 clients in the hub", func() bool { return numClients(h) == 7 })

	floodSeen := make(chan struct{}) // reader 0 has flood message 99
	results := make(chan error, len(readers))
	for i, r := range readers {
		go func() {
			r.SetReadDeadline(time.Now().Add(20 * time.Second))
			for {
				_, frame, err := r.ReadMessage()
				if err != nil {
					results <- fmt.Errorf("reader %d: %v", i, err)
					return
				}
				for _, line := range strings.Split(string(frame), "\n") {
					if line == "flood 99" && i == 0 {
						close(floodSeen)
					}
					if line == "during the flood" {
						results <- nil
						return
					}
				}
			}
		}()
	}
	go func() {
		for i := 0; i < 1000; i++ {
			if flooder.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint("flood ", i))) != nil {
				return
			}
		}
	}()

	select {
	case <-floodSeen:
	case err := <-results:
		t.Fatalf("before flood message 99: %v", err)
	}
	sender.WriteMessage(websocket.TextMessage, []byte("during the flood"))
	for range readers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// Sixty clients that each send 50 messages at once, within their pace,
// make a burst of 3,000 messages, far below maxQueued per client: every
// client, reading as fast as it can as a browser does, stays connected and
// gets every message, however busy the machine and its writers are.
func TestManySendersAtOnceDropNoReader(t *testing.T) {
	const clients, each = 60, 50
	h, url := startServer(t)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, url)
	}
	waitFor(t, "every client in the hub", func() bool { return numClients(h) == clients })

	results := make(chan error, clients)
	for i, conn := range conns {
		go func() {
			for j := 0; j < each; j++ {
				conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("burst %d-%d", i, j)))
			}
		}()
		go func() {
			lines, err := tryReadLines(conn, clients*each)
			if err != nil {
				err = fmt.Errorf("client %d: %v", i, err)
			} else if got := countDistinct(lines); got != clients*each {
				err = fmt.Errorf("client %d: %d distinct messages of %d", i, got, clients*each)
			}
			results <- err
		}()
	}
	for range conns {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

func countDistinct(lines []string) int {
	seen := make(map[string]bool)
	for _, l := range lines {
		seen[l] = true
	}
	return len(seen)
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestFrameOverLimitGets1009(t *testing.T) {
	h, url := startServer(t)
	conn := dial(t, url)
	other := dial(t, url)
	waitFor(t, "2 clients in the hub", func() bool { return numClients(h) == 2 })

	conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), maxMessageSize+1))
	if code := closeCode(t, conn); code != websocket.CloseMessageTooBig {
		t.Errorf("close code = %d, want %d", code, websocket.CloseMessageTooBig)
	}
	// Nothing else broke: the other client still chats.
	other.WriteMessage(websocket.TextMessage, []byte("still here"))
	if got := readLines(t, other, 1); got[0] != "still here" {
		t.Errorf("other client got %q", got)
	}
}

func TestBinaryFrameGets1003(t *testing.T) {
	h, url := startServer(t)
	conn := dial(t, url)
	waitFor(t, "the client in the hub", func() bool { return numClients(h) == 1 })

	conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	if code := closeCode(t, conn); code != websocket.CloseUnsupportedData {
		t.Errorf("close code = %d, want %d", code, websocket.CloseUnsupportedData)
	}
}

func TestInvalidUTF8Gets1007(t *testing.T) {
	h, url := startServer(t)
	conn := dial(t, url)
	waitFor(t, "the client in the hub", func() bool { return numClients(h) == 1 })

	conn.WriteMessage(websocket.TextMessage, []byte{'h', 'i', 0xff})
	if code := closeCode(t, conn); code != websocket.CloseInvalidFramePayloadData {
		t.Errorf("close code = %d, want %d", code, websocket.CloseInvalidFramePayloadData)
	}
}

func TestClientsLeaveNothingBehind(t *testing.T) {
	h, url := startServer(t)
	before := runtime.NumGoroutine()

	conns := []*websocket.Conn{dial(t, url), dial(t, url), dial(t, url)}
	waitFor(t, "3 clients in the hub", func() bool { return numClients(h) == 3 })
	conns[0].WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	conns[1].Close() // gone without a close frame
	conns[2].WriteMessage(websocket.BinaryMessage, []byte{0})

	waitFor(t, "an empty hub", func() bool { return numClients(h) == 0 })
	waitFor(t, "the connection goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestOtherOriginsAreRefused(t *testing.T) {
	_, url := startServer(t)

	header := http.Header{"Origin": {"http://evil.example"}}
	_, res, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: err = %v, response = %v; want 403", err, res)
	}

	host := strings.TrimPrefix(url, "ws://")
	header = http.Header{"Origin": {"http://" + strings.TrimSuffix(host, "/ws")}}
	conn, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		t.Fatalf("same-origin dial: %v", err)
	}
	conn.Close()
}

func TestServesThePage(t *testing.T) {
	srv := httptest.NewServer(newMux(newHub()))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
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
