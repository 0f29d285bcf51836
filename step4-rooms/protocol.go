package main

// This file is the wire protocol: JSON text frames, and the checks on what
// comes in. A first read can skip the checks; the types are worth a look.
//
//	client → server
//	  {"type":"join","room":"R"}
//	  {"type":"leave","room":"R"}
//	  {"type":"message","room":"R","text":"..."}
//	server → client
//	  {"type":"joined","room":"R"}           once Redis has confirmed the room's subscription
//	  {"type":"left","room":"R"}
//	  {"type":"message","room":"R","user":"U","text":"...","ts":<unix ms>,"id":"<unique>"}
//	  {"type":"announcement","text":"..."}  whatever anyone publishes on Redis channel "broadcast"
//	  {"type":"error","error":"<reason>"}   the request was refused; the connection stays usable
//
// A server frame may carry several of these, one JSON object per line, when
// messages queue up for a client. The user name comes from the connection,
// /ws?name=U (1 to 32 letters, digits, _ or -; none: a guest name), and the
// server stamps it on every message, so nobody can speak as someone else.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

const (
	// maxTextLength is the longest chat message, in characters.
	maxTextLength = 500

	// maxRoomsPerClient stops one connection from making this instance
	// subscribe to any number of Redis channels.
	maxRoomsPerClient = 10

	// maxRoomLength and maxNameLength keep names readable and bounded;
	// both allow letters, digits, '_' and '-' only.
	maxRoomLength = 64
	maxNameLength = 32
)

// request is what a client sends.
type request struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// event is what the server sends; empty fields are left out.
type event struct {
	Type  string `json:"type"`
	Room  string `json:"room,omitempty"`
	User  string `json:"user,omitempty"`
	Text  string `json:"text,omitempty"`
	TS    int64  `json:"ts,omitempty"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

// encode renders e as one line of JSON. json.Marshal escapes newlines in
// strings, so a line is always exactly one event.
func (e event) encode() []byte {
	b, _ := json.Marshal(e) // cannot fail: only strings and a number
	return b
}

func errorEvent(reason string) []byte {
	return event{Type: "error", Error: reason}.encode()
}

// parseRequest decodes and checks one frame from a client. Anything it
// returns without an error is safe to act on; the error is the reason a
// client reads in its error event.
func parseRequest(data []byte) (request, error) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		return req, errors.New("invalid JSON")
	}
	switch req.Type {
	case "join", "leave", "message":
	default:
		return req, fmt.Errorf("unknown type %q", req.Type)
	}
	if !validName(req.Room, maxRoomLength) {
		return req, fmt.Errorf("invalid room name: use 1 to %d letters, digits, _ or -", maxRoomLength)
	}
	if req.Type == "message" {
		req.Text = strings.TrimSpace(req.Text)
		if req.Text == "" {
			return req, errors.New("empty text")
		}
		if utf8.RuneCountInString(req.Text) > maxTextLength {
			return req, fmt.Errorf("text longer than %d characters", maxTextLength)
		}
	}
	return req, nil
}

// nameFrom is the user name a connection asks for, /ws?name=U; with none,
// a guest name.
func nameFrom(r *http.Request) (string, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return "guest-" + randomHex(2), nil
	}
	if !validName(name, maxNameLength) {
		return "", fmt.Errorf("invalid name: use 1 to %d letters, digits, _ or -", maxNameLength)
	}
	return name, nil
}

// validName reports whether s is 1 to max letters, digits, '_' or '-'.
func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// validPayload reports whether a room's message from Redis may be passed
// on. Anyone with access to Redis can publish to a room's channel: pass on
// only one line of valid JSON, which is what our instances publish.
func validPayload(payload string) bool {
	return json.Valid([]byte(payload)) && !strings.Contains(payload, "\n")
}

// Message IDs are unique across instances: a random prefix per process,
// and a counter.
var (
	idPrefix = randomHex(4)
	lastID   atomic.Uint64
)

func newID() string {
	return idPrefix + "-" + strconv.FormatUint(lastID.Add(1), 10)
}

// randomHex returns n random bytes as hex: guest names and message IDs.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
