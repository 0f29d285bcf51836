package main

// This file is step 1, unchanged: the page and the port argument. It
// stands beside main.go so that main.go holds only what this step adds.

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	if len(args) > 1 {
		return 0, errors.New("expected at most one argument, the port")
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port must be a number from 1 to 65535, got %q", args[0])
	}
	return port, nil
}
