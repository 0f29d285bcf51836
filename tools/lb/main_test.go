package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// runMainEnv makes the test binary run main instead of the tests, with the
// arguments after the first: see TestMain and runLB.
const runMainEnv = "LB_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append([]string{"lb"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// waitTimeout bounds every wait for the balancer's process.
const waitTimeout = 10 * time.Second

// backend is a test instance: GET / answers its name and the Host it was
// asked for; /ws is a WebSocket that says the Host, then echoes each
// message. Its Upgrader checks the Origin as the steps' does (the default).
type backend struct {
	name string
	addr string // localhost:PORT, as the balancer names it
	srv  *httptest.Server
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, srv: httptest.NewServer(backendHandler(name))}
	t.Cleanup(b.srv.Close)
	b.addr = "localhost:" + b.srv.URL[strings.LastIndex(b.srv.URL, ":")+1:]
	return b
}

// backendHandler serves a test backend called name.
func backendHandler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s", name, r.Host)
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered 403 for a foreign Origin
		}
		defer conn.Close()
		conn.WriteMessage(websocket.TextMessage, []byte(name+" host="+r.Host+" for="+r.Header.Get("X-Forwarded-For")))
		for {
			kind, msg, err := conn.ReadMessage()
			if err != nil || conn.WriteMessage(kind, msg) != nil {
				return
			}
		}
	})
	return mux
}

// refusedAddr returns localhost:PORT for a loopback port where nothing
// listens: a connection there is refused.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return fmt.Sprintf("localhost:%d", l.Addr().(*net.TCPAddr).Port)
}

// syncBuffer is a bytes.Buffer that the balancer logs to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// startBalancer serves a balancer over addrs on a free loopback port and
// returns it, its URL (http://localhost:PORT) and its log.
func startBalancer(t *testing.T, addrs ...string) (*balancer, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	lb := &balancer{backends: addrs, retry: retryDown, log: log.New(logs, "", 0), down: map[string]time.Time{}}
	srv := httptest.NewServer(lb.proxy())
	t.Cleanup(srv.Close)
	return lb, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), logs
}

// get asks the balancer for / and returns the status and the body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// getNames asks the balancer for / n times, and returns which backend
// answered each time.
func getNames(t *testing.T, url string, n int) []string {
	t.Helper()
	var names []string
	for range n {
		status, body := get(t, url)
		if status != http.StatusOK {
			t.Fatalf("GET / through the balancer: %d %q", status, body)
		}
		names = append(names, strings.Fields(body)[0])
	}
	return names
}

func TestSpreadsRequestsInTurn(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	_, url, logs := startBalancer(t, a.addr, b.addr, c.addr)

	if got, want := getNames(t, url, 6), []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("answered by %v, want %v", got, want)
	}
	var want []string
	for range 2 {
		for _, be := range []*backend{a, b, c} {
			want = append(want, "GET / -> "+be.addr)
		}
	}
	if got := logs.lines(); !slices.Equal(got, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRefusedBackendIsSkippedUntilBack(t *testing.T) {
	a := refusedAddr(t)
	b, c := newBackend(t, "b"), newBackend(t, "c")
	lb, url, logs := startBalancer(t, a, b.addr, c.addr)
	lb.retry = time.Hour // set before any request: no other goroutine reads it yet

	// a's turn goes to b; after that, a is left out.
	if got, want := getNames(t, url, 4), []string{"b", "c", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("with %s refusing: answered by %v, want %v", a, got, want)
	}
	wantDown := a + " is down ("
	if n := countPrefix(logs.lines(), wantDown); n != 1 {
		t.Errorf("%d log lines %q..., want 1:\n%s", n, wantDown, strings.Join(logs.lines(), "\n"))
	}

	// a is back, but still left out until its hour is up.
	l, err := net.Listen("tcp", strings.Replace(a, "localhost", "127.0.0.1", 1))
	if err != nil {
		t.Fatalf("listening on %s again: %v", a, err)
	}
	back := &http.Server{Handler: backendHandler("a")}
	go back.Serve(l)
	t.Cleanup(func() { back.Close() })
	if got, want := getNames(t, url, 2), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("with %s back, before its retry: answered by %v, want %v", a, got, want)
	}

	// Its hour is up: its turn is its own again.
	lb.mu.Lock()
	lb.retry = 0
	lb.mu.Unlock()
	if got, want := getNames(t, url, 3), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("with %s back, after its retry: answered by %v, want %v", a, got, want)
	}
	if n := countPrefix(logs.lines(), a+" is back"); n != 1 {
		t.Errorf("%d log lines %q, want 1:\n%s", n, a+" is back", strings.Join(logs.lines(), "\n"))
	}
}

func TestAllDownIs502(t *testing.T) {
	a, b := refusedAddr(t), refusedAddr(t)
	_, url, logs := startBalancer(t, a, b)
	// The first request finds both down; the second knows it already.
	for i := range 2 {
		status, body := get(t, url)
		want := "lb: no backend is up: each one refused the connection\n"
		if status != http.StatusBadGateway || body != want {
			t.Errorf("request %d: %d %q, want 502 %q", i+1, status, body, want)
		}
	}
	for _, addr := range []string{a, b} {
		if n := countPrefix(logs.lines(), addr+" is down ("); n != 1 {
			t.Errorf("%d log lines saying %s is down, want 1:\n%s", n, addr, strings.Join(logs.lines(), "\n"))
		}
	}
}

// TestRequestWithBodyIsNotTriedTwice: a body is read as it is sent, so a
// request with one is not tried on another backend; the refusal still
// counts, and the next request goes elsewhere.
func TestRequestWithBodyIsNotTriedTwice(t *testing.T) {
	a, b := refusedAddr(t), newBackend(t, "b")
	_, url, logs := startBalancer(t, a, b.addr)
	resp, err := http.Post(url+"/", "text/plain", strings.NewReader("a body"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "lb: dial tcp "; resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(string(body), want) {
		t.Errorf("POST with a body, %s refusing: %s %q, want 502 %q...", a, resp.Status, body, want)
	}
	if n := countPrefix(logs.lines(), a+" is down ("); n != 1 {
		t.Errorf("%d log lines saying %s is down, want 1:\n%s", n, a, strings.Join(logs.lines(), "\n"))
	}
	if got, want := getNames(t, url, 2), []string{"b", "b"}; !slices.Equal(got, want) {
		t.Errorf("then: answered by %v, want %v", got, want)
	}
}

// TestWebSocket is a browser-like WebSocket through the balancer: its
// Origin is the balancer's page, http://localhost:PORT, and a backend with
// gorilla's default Origin check must accept it, which it does only if it
// sees the client's Host. Messages then go both ways.
func TestWebSocket(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	_, url, logs := startBalancer(t, a.addr, b.addr)
	host := strings.TrimPrefix(url, "http://")

	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+host+"/ws?name=alice", http.Header{"Origin": {url}})
	if err != nil {
		status := "no answer"
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("WebSocket through the balancer: %v (%s)", err, status)
	}
	defer conn.Close()
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "a host="+host+" for=127.0.0.1" {
		t.Errorf("first message: %q, %v; want %q", msg, err, "a host="+host+" for=127.0.0.1")
	}
	for _, text := range []string{"hello", "naïve café ✓"} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != text {
			t.Errorf("echo: %q, %v; want %q", msg, err, text)
		}
	}
	if want := "GET /ws?name=alice -> " + a.addr; !slices.Contains(logs.lines(), want) {
		t.Errorf("log:\n%s\nwant a line %q", strings.Join(logs.lines(), "\n"), want)
	}

	// A page from another origin is still refused: the check is live.
	_, resp, err = websocket.DefaultDialer.Dial("ws://"+host+"/ws", http.Header{"Origin": {"http://localhost:1"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("WebSocket from http://localhost:1: %v, want 403 Forbidden", err)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// runLB starts the test binary as lb with args, its output in out.
func runLB(t *testing.T, out io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"8080"},
		{"8080", "x"},
		{"0", "3459"},
		{"8080", "65536"},
		{"8080", "-1"},
		{"8080", "8080"},
	} {
		var out bytes.Buffer
		err := runLB(t, &out, args...).Wait()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if code := exitCode(err); code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "usage: lb PORT BACKEND_PORT...") {
			t.Errorf("lb %s: exit status %d, output:\n%s\nwant 2 and one line of usage", strings.Join(args, " "), code, out.String())
		}
	}
}

func exitCode(err error) int {
	if exitErr, ok := err.(*exec.ExitError); ok {
		return exitErr.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestRunAndStop runs lb as a person does, in front of one backend,
// and stops it with SIGTERM, as Ctrl-C does: it exits cleanly.
func TestRunAndStop(t *testing.T) {
	b := newBackend(t, "b")
	port := strings.TrimPrefix(refusedAddr(t), "localhost:")
	r, w := io.Pipe()
	cmd := runLB(t, w, port, strings.TrimPrefix(b.addr, "localhost:"))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); w.Close() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	lines := bufio.NewScanner(r)
	expectLine := func(want string) {
		t.Helper()
		found := make(chan string, 1)
		go func() {
			for lines.Scan() {
				if strings.Contains(lines.Text(), want) {
					found <- lines.Text()
					return
				}
			}
			close(found)
		}()
		select {
		case _, ok := <-found:
			if !ok {
				t.Fatalf("lb exited without a line %q", want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no line %q from lb after %v", want, waitTimeout)
		}
	}
	expectLine("listening on http://localhost:" + port + ", spreading over " + b.addr)
	if status, body := get(t, "http://localhost:"+port); status != http.StatusOK || body != "b host=localhost:"+port {
		t.Errorf("GET / through lb: %d %q", status, body)
	}
	expectLine("GET / -> " + b.addr)

	cmd.Process.Signal(syscall.SIGTERM)
	expectLine("shutting down")
	go io.Copy(io.Discard, r)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("lb still running %v after SIGTERM", waitTimeout)
	}
}
