package main

// This file is step 1's page and port argument, the limits that keep one client, or
// a stranger, from hurting the others, and /debug/vars; a first read can skip it.

import (
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed index.html
var indexHTML []byte

func serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(indexHTML)
}

type stats struct{ in, out, slow int } // under h.mu: messages from Redis; events queued to clients; clients too slow

// serveVars is /debug/vars: the hub's counters in expvar's JSON (not expvar's: one per process).
func (h *hub) serveVars(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprintf(w, `{"chat": {"clients": %d, "rooms": %d, "messages_in": %d, "events_out": %d, "dropped_slow": %d, "redis": %q}}`+"\n",
		len(h.clients), len(h.rooms), h.stats.in, h.stats.out, h.stats.slow, map[bool]string{true: "up", false: "down"}[h.subscribed])
}

// parsePort reads the optional port argument: none means defaultPort.
func parsePort(args []string) (int, error) {
	if len(args) == 0 {
		return defaultPort, nil
	}
	port, err := strconv.Atoi(args[0])
	if len(args) > 1 || err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("the port must be one number from 1 to 65535, not %q", strings.Join(args, " "))
	}
	return port, nil
}

// newServer is an http.Server for addr that drops connections that take 5 s
// to send a request's headers or idle 2 minutes, and, while listenHost is
// localhost, refuses other host names: a web page's own name pointed at
// 127.0.0.1 (DNS rebinding) gets nothing.
func newServer(addr string, h http.Handler) *http.Server {
	localOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		if listenHost == "localhost" && host != "localhost" && host != "127.0.0.1" && host != "::1" && host != "[::1]" {
			http.Error(w, "this server answers only to localhost", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	return &http.Server{Addr: addr, Handler: localOnly, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
}

// clientLimit lets a client send burst messages at once, then one every
// interval: twice the load test's rate per client. Benchmarks lift it.
var clientLimit = limiter{burst: 5, interval: time.Second / 200}

// limiter is a token bucket: a client may run burst messages ahead of due.
type limiter struct {
	burst    int
	interval time.Duration
	due      time.Time
}

// wait lets one more message through, first sleeping if it is too early.
func (l *limiter) wait() {
	now := time.Now()
	if l.due.Before(now) {
		l.due = now
	}
	l.due = l.due.Add(l.interval)
	if early := l.due.Sub(now) - time.Duration(l.burst)*l.interval; early > 0 {
		time.Sleep(early)
	}
}
