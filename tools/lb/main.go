// Command lb is a small load balancer, for the chapter "Going to
// production": it listens on one port and hands each new request to the
// next of several step-4 instances in turn (round-robin). A WebSocket is
// one request that lasts, so it stays on its instance until it closes; the
// page then reconnects through the balancer, to whichever instance is next.
// An instance that refuses connections is skipped until it is back.
//
// From the repository root, with step-4 instances on 3459, 3460 and 3461,
// then a tab on http://localhost:8080:
//
//	go run ./tools/lb 8080 3459 3460 3461
//
// In production this is the job of nginx or HAProxy: nginx.conf, beside
// this file, does the same with nginx.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listenHost keeps the balancer on this machine, as the steps do; the
// instances behind it are on this machine too.
const listenHost = "localhost"

// retryDown is how long an instance that refused a connection is left
// out before it gets another chance.
const retryDown = time.Second

func main() {
	port, backends, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "usage: lb PORT BACKEND_PORT... (e.g. lb 8080 3459 3460 3461): %v\n", err)
		os.Exit(2)
	}
	lb := &balancer{backends: backends, retry: retryDown, log: log.Default(), down: map[string]time.Time{}}

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s, spreading over %s", addr, strings.Join(backends, ", "))
	srv := &http.Server{Handler: lb.proxy(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)

	// Until Ctrl-C. Exiting drops every connection, WebSockets included:
	// their pages reconnect once a balancer listens here again.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("shutting down")
	srv.Close()
}

// parseArgs reads the balancer's port, then each backend's port.
func parseArgs(args []string) (port int, backends []string, err error) {
	if len(args) < 2 {
		return 0, nil, errors.New("a port to listen on and at least one backend port")
	}
	for i, arg := range args {
		p, err := strconv.Atoi(arg)
		if err != nil || p < 1 || p > 65535 {
			return 0, nil, fmt.Errorf("ports are numbers from 1 to 65535, not %q", arg)
		}
		if i == 0 {
			port = p
		} else if p == port {
			return 0, nil, fmt.Errorf("port %d cannot be the balancer's and a backend's", p)
		} else {
			backends = append(backends, fmt.Sprintf("%s:%d", listenHost, p))
		}
	}
	return port, backends, nil
}

// balancer spreads requests over its backends. A mutex guards its state,
// because each request is served in a goroutine of its own.
type balancer struct {
	backends []string      // host:port of each instance
	retry    time.Duration // how long a backend that refused is left out
	log      *log.Logger

	mu   sync.Mutex
	next int                  // the index in backends of the next one's turn
	down map[string]time.Time // backends that refused a connection, and when
}

// proxy is the handler: ReverseProxy copies each request to the backend
// that pick chose, and its answer back; for a WebSocket, it copies the
// frames both ways until one side closes.
func (lb *balancer) proxy() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// "" if every backend is down: RoundTrip then answers 502.
			r.SetURL(&url.URL{Scheme: "http", Host: lb.pick(nil)})
			// The client's Host, localhost:8080, goes on unchanged, not the
			// backend's: the steps refuse other names (server.go), and
			// gorilla refuses a page whose Origin, http://localhost:8080,
			// does not match the Host it sees, port included.
			r.Out.Host = r.In.Host
			r.SetXForwarded() // X-Forwarded-For says who the client is
		},
		Transport: lb, // its RoundTrip, below, moves on from a backend that refuses
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			lb.log.Printf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
			http.Error(w, "lb: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// pick returns the backend whose turn it is, leaving out those in tried and
// those that refused a connection less than lb.retry ago; "" if none is left.
func (lb *balancer) pick(tried []string) string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for range lb.backends {
		b := lb.backends[lb.next%len(lb.backends)]
		lb.next++
		since, down := lb.down[b]
		if !slices.Contains(tried, b) && (!down || time.Since(since) >= lb.retry) {
			return b
		}
	}
	return ""
}

// RoundTrip sends the request to the backend in its URL; if that one
// refuses the connection, to the next whose turn it is, and so on. A
// refused request never left, so trying again is safe, unless it has a
// body (a page and a WebSocket's handshake have none): the first try used it.
func (lb *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var tried []string
	for req.URL.Host != "" {
		b := req.URL.Host
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			lb.mark(b, nil)
			lb.log.Printf("%s %s -> %s", req.Method, req.URL.RequestURI(), b)
			return resp, nil
		}
		var dial *net.OpError
		if !errors.As(err, &dial) || dial.Op != "dial" {
			return nil, err // it may have reached b: too late to try another
		}
		lb.mark(b, err)
		if req.Body != nil {
			return nil, err // its body is gone
		}
		tried = append(tried, b)
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		req.URL.Host = lb.pick(tried)
	}
	return nil, errors.New("no backend is up: each one refused the connection")
}

// mark notes that b refused a connection (err) or took one (err is nil),
// and logs it when that is news.
func (lb *balancer) mark(b string, err error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	_, wasDown := lb.down[b]
	if err == nil {
		if wasDown {
			lb.log.Printf("%s is back", b)
		}
		delete(lb.down, b)
		return
	}
	if !wasDown {
		lb.log.Printf("%s is down (%v); it gets another try every %v", b, err, lb.retry)
	}
	lb.down[b] = time.Now()
}
