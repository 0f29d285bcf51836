package main

// This file is the wire protocol (README has its table) and the checks on
// what comes in; a first read can skip it. A client sends one JSON request per
// frame; the server may send several events in one, one per line.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

const (
	maxTextLength     = 500 // characters in one message
	maxRoomsPerClient = 10  // so that one client cannot make us subscribe to any number of channels
	maxRoomLength     = 64  // room and user names: letters, digits, '_' and '-'
	maxNameLength     = 32
)

// request is what a client sends.
type request struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// event is what the server sends; empty fields are left out.
type event struct {
	Type  string   `json:"type"`
	Room  string   `json:"room,omitempty"`
	User  string   `json:"user,omitempty"`
	Text  string   `json:"text,omitempty"`
	TS    int64    `json:"ts,omitempty"`
	ID    string   `json:"id,omitempty"`
	Via   string   `json:"via,omitempty"` // the instance a message came through
	Error string   `json:"error,omitempty"`
	State string   `json:"state,omitempty"` // of Redis: "down" or "up", with the Rooms concerned (rooms.go)
	Rooms []string `json:"rooms,omitempty"`
}

// encode renders e as one line of JSON: json.Marshal escapes newlines.
func (e event) encode() []byte {
	b, _ := json.Marshal(e) // cannot fail: only strings and a number
	return b
}

func errorEvent(reason string) []byte { return event{Type: "error", Error: reason}.encode() }

// parseRequest decodes and checks one frame from a client: what it returns
// without an error is safe to act on; the error is what the client reads.
func parseRequest(data []byte) (request, error) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&req); err != nil {
		return req, errors.New("invalid JSON")
	}
	// One request per frame: an error could not say which of several it is about.
	var another json.RawMessage
	if err := dec.Decode(&another); err == nil {
		return req, errors.New("one request per frame")
	} else if err != io.EOF {
		return req, errors.New("invalid JSON")
	}
	if req.Type != "join" && req.Type != "leave" && req.Type != "message" {
		return req, fmt.Errorf("unknown type %q", req.Type)
	}
	if !validName(req.Room, maxRoomLength) {
		return req, fmt.Errorf("invalid room name: use 1 to %d letters, digits, _ or -", maxRoomLength)
	}
	if req.Type == "message" {
		req.Text = strings.TrimSpace(req.Text)
		return req, checkText(req.Text)
	}
	return req, nil
}

// nameFrom is the user name a connection asks for (/ws?name=U), or a guest's.
func nameFrom(r *http.Request) (string, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return "guest-" + rand.Text()[:4], nil
	}
	if !validName(name, maxNameLength) {
		return "", fmt.Errorf("invalid name: use 1 to %d letters, digits, _ or -", maxNameLength)
	}
	return name, nil
}

// validName reports whether s is 1 to max letters, digits, '_' or '-'.
func validName(s string, max int) bool {
	valid := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
	}
	return len(s) > 0 && len(s) <= max && strings.IndexFunc(s, func(r rune) bool { return !valid(r) }) < 0
}

// fromRedis checks what arrived on channel (anyone can PUBLISH), and
// returns the event to pass on, or false: on "broadcast", a text that
// checkText accepts; on a room's channel, a message as our instances
// publish them (a browser drops its connection on invalid UTF-8).
func fromRedis(channel, payload string) (event, bool) {
	if channel == broadcastChannel {
		return event{Type: "announcement", Text: payload}, checkText(payload) == nil
	}
	var ev event
	err := json.Unmarshal([]byte(payload), &ev)
	ok := err == nil && utf8.ValidString(payload) && ev.Type == "message" && roomPrefix+ev.Room == channel &&
		validName(ev.User, maxNameLength) && checkText(ev.Text) == nil
	// A message's fields only: what anyone can publish does not speak for the instance.
	return event{Type: ev.Type, Room: ev.Room, User: ev.User, Text: ev.Text, TS: ev.TS, ID: ev.ID, Via: ev.Via}, ok
}

// checkText says what is wrong with a message's or an announcement's text,
// if anything: the instances drop it then, and announce refuses to send it.
func checkText(text string) error {
	switch {
	case !utf8.ValidString(text):
		return errors.New("text must be UTF-8")
	case strings.TrimSpace(text) == "":
		return errors.New("empty text")
	case utf8.RuneCountInString(text) > maxTextLength:
		return fmt.Errorf("text longer than %d characters", maxTextLength)
	}
	return nil
}

// Message IDs are unique across instances: a prefix per process, a counter.
var idPrefix, lastID = rand.Text()[:8], new(atomic.Uint64)

func newID() string { return idPrefix + "-" + strconv.FormatUint(lastID.Add(1), 10) }
