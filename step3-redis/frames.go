package main

// This file is what a line on the wire looks like; a first read can skip
// it. From step 3 on, the server sends small JSON objects, one per line, so
// that the page can show which instance a message came through, and tell a
// message from the server's own words, which a client cannot imitate:
// whatever it types becomes the text of a message.
//
//	{"text":"hi","via":"3460"}   a message, and the instance it came through
//	{"notice":"..."}             the server, to this client only
//	{"redis":"up"} {"redis":"down"}   whether this instance can use Redis

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

// redisState is the line that tells the page whether Redis is usable.
func redisState(up bool) []byte {
	if up {
		return line{Redis: "up"}.encode()
	}
	return line{Redis: "down"}.encode()
}

// fromRedis checks a payload from the chat channel, and returns the line
// to pass on, or false. Our instances publish a message line; anyone else
// who can reach Redis may publish anything (redis-cli PUBLISH chat hi):
// other UTF-8 text is passed on as a message via "redis", and nothing else.
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
