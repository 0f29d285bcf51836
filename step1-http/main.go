// Command step1-http serves the chat page over plain HTTP.
//
// This is where the workshop starts: one process, one page, no WebSocket yet.
// Run it from the repository root with
//
//	go run ./step1-http        # port 3459
//	go run ./step1-http 3460   # any other port
package main

import (
	_ "embed"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// defaultPort is the port the guides use; a second instance can use 3460.
const defaultPort = 3459

// listenHost keeps the server on this machine: a workshop laptop should not
// offer its chat to the whole café Wi-Fi. Use "" to listen on every interface.
const listenHost = "localhost"

// The page is compiled into the binary, so `go run` works from any directory.
//
//go:embed index.html
var indexHTML []byte

func main() {
	port, err := parsePort(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "usage: step1-http [port]: %v\n", err)
		os.Exit(2)
	}

	addr := fmt.Sprintf("%s:%d", listenHost, port)
	log.Printf("listening on http://%s", addr)
	log.Fatal(newServer(addr, newMux()).ListenAndServe())
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

// newMux routes the requests: only "/" exists so far.
func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	// "GET /{$}" matches exactly "/" (and HEAD); every other path is a 404.
	mux.HandleFunc("GET /{$}", serveIndex)
	return mux
}

func serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(indexHTML)
}
