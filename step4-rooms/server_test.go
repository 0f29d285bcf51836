package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// startHTTP serves what main serves, through newServer, on a loopback port.
func startHTTP(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newServer("", newMux(newHub(nil, nil, "")))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// A web page whose own name was made to point at 127.0.0.1 (DNS rebinding)
// gets nothing from a server that listens on localhost: not the page, and
// not a WebSocket, even with an Origin that matches its Host.
func TestOnlyLocalhostNamesAreAnswered(t *testing.T) {
	srv := startHTTP(t)
	for host, want := range map[string]int{
		"localhost:3459": http.StatusOK, "127.0.0.1:3459": http.StatusOK, "[::1]:3459": http.StatusOK, "localhost": http.StatusOK,
		"rebind.evil.example:3459": http.StatusForbidden, "rebind.evil.example": http.StatusForbidden, "192.168.1.10:3459": http.StatusForbidden,
	} {
		for _, path := range []string{"/", "/ws"} {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Host = host
			req.Header.Set("Origin", "http://"+host)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if path == "/" && res.StatusCode != want || path == "/ws" && want == http.StatusForbidden && res.StatusCode != want {
				t.Errorf("GET %s with Host %s: %d, want %d", path, host, res.StatusCode, want)
			}
		}
	}
}

// Connections that never finish their request headers are closed.
func TestHalfSentHeadersAreDropped(t *testing.T) {
	t.Parallel() // it waits for the server's timeout
	srv := startHTTP(t)
	limit := srv.Config.ReadHeaderTimeout
	if limit <= 0 || limit > 10*time.Second {
		t.Fatalf("ReadHeaderTimeout = %v, want a few seconds", limit)
	}
	conns := make([]net.Conn, 20)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n"))
		conns[i] = c
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(limit + 2*time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("a connection with half a header is still open after %v", limit+2*time.Second)
		}
		if err == nil { // net/http may say why before it hangs up
			io.Copy(io.Discard, res.Body)
		}
	}
}
