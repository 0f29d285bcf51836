package main

// This file holds the limits any HTTP server needs. A first read can skip
// it: a browser on this laptop never meets them.

import (
	"net"
	"net/http"
	"time"
)

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
