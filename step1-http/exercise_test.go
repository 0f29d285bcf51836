//go:build exercise

package main

// The chapter's exercises, checked. From the step's folder:
//
//	go test -tags exercise ./...                                  all of them
//	go test -tags exercise -run TestExerciseHealthCheck ./...     one
//
// Each fails with one line that says what is still missing.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// In the room: GET /healthz answers 200 and "ok".
func TestExerciseHealthCheck(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("GET /healthz answered %d %q: want 200 and ok (a route in newMux)", res.StatusCode, body)
	}
}

// Take-home: with no argument, the port comes from $PORT if it is set, as
// many hosting platforms expect; an argument still wins.
func TestExercisePortFromTheEnvironment(t *testing.T) {
	t.Setenv("PORT", "3999")
	if got, err := parsePort(nil); got != 3999 || err != nil {
		t.Fatalf("with PORT=3999 and no argument, parsePort = %d, %v: want 3999 (read $PORT when there is no argument)", got, err)
	}
	if got, err := parsePort([]string{"3460"}); got != 3460 || err != nil {
		t.Fatalf("with PORT=3999 and the argument 3460, parsePort = %d, %v: want 3460 (an argument wins)", got, err)
	}
	t.Setenv("PORT", "abc")
	if got, err := parsePort(nil); err == nil {
		t.Fatalf("with PORT=abc, parsePort = %d and no error: want an error, as for a bad argument", got)
	}
}
