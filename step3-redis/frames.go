package main

// This file is what a line to a page looks like; a first read can skip it.
// A small JSON object, so that the page can show which instance a message
// came through, and tell it from the server's words, which no client can
// imitate: whatever a client sends is the text of a message.
//
//	{"text":"hi","via":"3460"}        a message, and the instance it came through
//	{"notice":"..."}                  the server's words, to one client
//	{"redis":"up"}, {"redis":"down"}  whether this instance can use Redis

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

type line struct {
	Text   string `json:"text,omitempty"`
	Via    string `json:"via,omitempty"`
	Notice string `json:"notice,omitempty"`
	Redis  string `json:"redis,omitempty"`
}

// encode renders l as one line: json.Marshal escapes newlines in strings.
func (l line) encode() []byte {
	b, _ := json.Marshal(l) // cannot fail: only strings
	return b
}

func notice(text string) []byte { return line{Notice: text}.encode() }

func redisState(up bool) []byte {
	return line{Redis: map[bool]string{true: "up", false: "down"}[up]}.encode()
}

// fromRedis checks a payload (anyone can PUBLISH), and returns the line to
// pass on, or false: ours as they are, other UTF-8 text as a message via "redis".
func fromRedis(payload string) ([]byte, bool) {
	var l line
	if !utf8.ValidString(payload) { // a browser would drop its connection
		return nil, false
	}
	if json.Unmarshal([]byte(payload), &l) != nil || l.Text == "" || l.Notice+l.Redis != "" {
		l = line{Text: strings.TrimSpace(strings.ReplaceAll(payload, "\n", " ")), Via: "redis"}
	}
	return l.encode(), l.Text != ""
}
