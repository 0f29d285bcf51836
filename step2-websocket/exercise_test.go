//go:build exercise

package main

// The chapter's exercises, checked. From the step's folder:
//
//	go test -tags exercise ./...                                  all of them
//	go test -tags exercise -run TestExerciseWhoIsHere ./...       one
//
// Each fails with one line that says what is still missing.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// In the room: whenever someone comes or goes, everyone still connected
// gets a line that says how many are here: "1 person here", "2 people here".
func TestExerciseWhoIsHere(t *testing.T) {
	_, url := startServer(t)
	a := dial(t, url)
	expectHere(t, a, "1 person here", "after the first one connected")
	b := dial(t, url)
	expectHere(t, a, "2 people here", "after a second one connected")
	expectHere(t, b, "2 people here", "on connecting, as the second one")
	b.Close()
	expectHere(t, a, "1 person here", "after the second one left")
}

// expectHere reads lines from conn until want, and fails if another line
// saying who is here, or none, comes first.
func expectHere(t *testing.T, conn *websocket.Conn, want, when string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no %q %s: send everyone \"N people here\" when someone comes or goes", want, when)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			if line == want {
				return
			}
			if whoIsHere.MatchString(line) {
				t.Fatalf("got %q %s, want %q", line, when, want)
			}
		}
	}
}

// Take-home: GET /clients answers how many clients are connected.
func TestExerciseClientCount(t *testing.T) {
	h, url := startServer(t)
	dial(t, url)
	dial(t, url)
	waitFor(t, "2 clients", func() bool { return numClients(h) == 2 })
	page := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/ws")
	res, err := http.Get(page + "/clients")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != fmt.Sprint(2) {
		t.Fatalf("GET /clients answered %d %q with 2 clients connected: want 200 and 2", res.StatusCode, body)
	}
}
