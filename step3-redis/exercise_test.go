//go:build exercise

package main

// The chapter's exercises, checked. From the step's folder:
//
//	go test -tags exercise ./...                                  all of them
//	go test -tags exercise -run TestExerciseNobodyHeardIt ./...   one
//
// Each fails with one line that says what is still missing.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
)

// In the room: PUBLISH answers how many subscribers received the message.
// When that is none, not even this instance (whose subscription Redis may
// have dropped without a word), the sender hears so in a notice.
func TestExerciseNobodyHeardIt(t *testing.T) {
	// An instance that believes it is subscribed, on a Redis where nobody is
	// (a miniredis of its own: a shared Redis may have other subscribers).
	rdb := clientFor(t, "redis://"+miniredis.RunT(t).Addr())
	h := newHub(rdb, rdb.Subscribe(context.Background()), "test")
	h.setSubscribed(true)
	srv := httptest.NewServer(newMux(h))
	t.Cleanup(func() { srv.Close(); h.shutdown(nil) })
	conn := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws")
	conn.WriteMessage(websocket.TextMessage, []byte("is anybody there?"))

	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatal("a message that no subscriber received got no notice: check what PUBLISH returns")
		}
		if strings.Contains(string(frame), `{"notice":`) {
			return
		}
	}
}

// Take-home: GET /instances answers how many instances share the chat, as
// Redis counts them: PUBSUB NUMSUB chat.
func TestExerciseInstanceCount(t *testing.T) {
	r := newTestRedis(t)
	a, _ := startInstanceOn(t, r), startInstanceOn(t, r)
	var status int
	var body []byte
	// Redis drops a closed subscription a moment after its client goes: one
	// left over from an earlier test may still count for an instant.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		res, err := http.Get(a.page + "/instances")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if status = res.StatusCode; status == http.StatusOK && strings.TrimSpace(string(body)) == "2" {
			return
		}
	}
	t.Fatalf("GET /instances answered %d %q with 2 instances running: want 200 and 2", status, body)
}
