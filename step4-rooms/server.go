package main

// This file is the plain HTTP part of the server, as step 1 built it: the
// page and the port argument. It stands beside main.go so that main.go
// holds only what this step adds.

import (
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
