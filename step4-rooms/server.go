package main

// This file is the plain HTTP side of the server: step 1's page and port
// argument, and the limits any HTTP server needs. A first read can skip it.

import (
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The page is compiled into the binary, so `go run` works from any directory.
//
//go:embed index.html
var indexHTML []byte

func serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(indexHTML)
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

// newServer is an http.Server for addr that drops connections which take
// over 5 s to send their request headers or idle 2 minutes between requests,
// and, while listenHost is localhost, refuses requests for other host names,
// such as a web page's own name pointed at 127.0.0.1 (DNS rebinding).
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
