package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// A payload is the text of one message the load generator sends:
//
//	lt <run> <sender> <seq> <unixnano>   a counted message
//	lt <run> ready <n>                   a probe, sent until every client has one
//
// <run> is random per run, so that messages still in flight from an earlier
// run (or typed by a person in the same chat) are not counted. <sender> and
// <seq> identify the message for duplicate detection; <unixnano> is the send
// time, so a receiver measures publish-to-delivery latency with the same
// clock. Only ASCII letters, digits and spaces: no JSON escaping needed.

// payloadTag starts every payload.
const payloadTag = "lt "

// probeWord marks a probe payload in the place of the sender number.
const probeWord = "ready"

// newRunID returns a short random identifier for a run.
func newRunID() string {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+ and Linux getrandom)
	return hex.EncodeToString(b[:])
}

// runPrefix is what every payload of the run starts with.
func runPrefix(runID string) []byte {
	return []byte(payloadTag + runID + " ")
}

// appendPayload appends a counted message's payload to b.
func appendPayload(b, prefix []byte, sender int, seq int64, sentAt int64) []byte {
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(sender), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, sentAt, 10)
}

// appendProbe appends the payload of probe number n to b.
func appendProbe(b, prefix []byte, n int) []byte {
	b = append(b, prefix...)
	b = append(b, probeWord+" "...)
	return strconv.AppendInt(b, int64(n), 10)
}

// payloadKind is what parsePayload found.
type payloadKind int

const (
	notOurs payloadKind = iota // another run's message, a person's, or garbage
	counted                    // a message to count
	probe                      // a probe
)

// parsePayload reads a payload of this run (prefix from runPrefix). It is on
// the hot path, once per delivery, so it scans bytes and allocates nothing.
func parsePayload(p, prefix []byte) (kind payloadKind, sender int, seq int64, sentAt int64) {
	if !bytes.HasPrefix(p, prefix) {
		return notOurs, 0, 0, 0
	}
	p = p[len(prefix):]
	if bytes.HasPrefix(p, []byte(probeWord+" ")) {
		return probe, 0, 0, 0
	}
	s, p, ok1 := cutNumber(p, ' ')
	q, p, ok2 := cutNumber(p, ' ')
	t, p, ok3 := cutNumber(p, 0)
	if !ok1 || !ok2 || !ok3 || len(p) != 0 {
		return notOurs, 0, 0, 0
	}
	return counted, int(s), q, t
}

// cutNumber reads a decimal number at the start of p followed by sep (or,
// with sep 0, by the end of p) and returns it and the rest after sep.
func cutNumber(p []byte, sep byte) (n int64, rest []byte, ok bool) {
	const maxDigits = 19 // int64 holds every 18-digit number; 19 for unix nanoseconds
	i := 0
	for ; i < len(p) && i < maxDigits; i++ {
		c := p[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	if i == 0 || n < 0 { // no digits, or a 19-digit number that overflowed
		return 0, p, false
	}
	if sep == 0 {
		return n, p[i:], true
	}
	if i == len(p) || p[i] != sep {
		return 0, p, false
	}
	return n, p[i+1:], true
}

// The servers' JSON (step 3's lines, step 4's objects), read and written
// without encoding/json: the receiving side handles about a million
// deliveries a second on one core, which leaves no room for a json.Unmarshal
// per line. The writers below only ever put letters, digits, '_', '-' and
// spaces in strings, so nothing needs escaping.

var (
	typeKey      = []byte(`"type":`)
	textKey      = []byte(`"text":`)
	messageValue = []byte("message")
	joinedValue  = []byte("joined")
	errorValue   = []byte("error")
)

// appendJoin appends step 4's join request for room.
func appendJoin(b []byte, room string) []byte {
	b = append(b, `{"type":"join","room":"`...)
	b = append(b, room...)
	return append(b, `"}`...)
}

// appendMessage appends step 4's message request carrying text to b.
func appendMessage(b []byte, room string, text []byte) []byte {
	b = append(b, `{"type":"message","room":"`...)
	b = append(b, room...)
	b = append(b, `","text":"`...)
	b = append(b, text...)
	return append(b, `"}`...)
}

// jsonField returns the value of the string field key (`"name":`) of the
// JSON object in line, or false if it has none or the value has escapes.
// Searching for the key with its quotes and colon is safe on valid JSON: a
// quote inside a string is always escaped, so `"name":` can only be a key.
func jsonField(line, key []byte) ([]byte, bool) {
	i := bytes.Index(line, key)
	if i < 0 {
		return nil, false
	}
	v := line[i+len(key):]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') { // a server may indent
		v = v[1:]
	}
	if len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	v = v[1:]
	end := bytes.IndexByte(v, '"')
	if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return nil, false // an escape: not a payload of ours
	}
	return v[:end], true
}

// objectText returns the value of the "text" field of the JSON object in
// line if it starts with a payload of this run (prefix from runPrefix), or
// false. Step 3 sends a message as {"text":"...","via":"3460"}; its notices
// and Redis states have no "text".
//
// It looks for the run prefix first, not for the "text" key: '"' is the
// commonest byte in JSON, so bytes.Index would stop at every quote, while
// the prefix's "lt" occurs seldom. Then it checks that the prefix starts the
// value of "text". The value ends at the next quote: a payload has none, so
// a text with an escape in it is cut short there and parsePayload rejects it.
func objectText(line, prefix []byte) ([]byte, bool) {
	i := bytes.Index(line, prefix)
	if i < 0 || !afterKey(line[:i], textKey) {
		return nil, false
	}
	end := bytes.IndexByte(line[i:], '"')
	if end < 0 {
		return nil, false
	}
	return line[i : i+end], true
}

// hasText reports whether the JSON object in line has a "text" field: in
// step 3, whether it is a chat message (not a notice or a Redis state).
func hasText(line []byte) bool {
	return bytes.Contains(line, textKey)
}

// messageText returns the text of a step 4 "message" object if it is a
// payload of this run (prefix from runPrefix), or false.
func messageText(line, prefix []byte) ([]byte, bool) {
	text, ok := objectText(line, prefix)
	if !ok || !isMessage(line) {
		return nil, false
	}
	return text, true
}

// afterKey reports whether before ends with key and an opening quote, as
// in `"text":"` (spaces allowed after the colon).
func afterKey(before, key []byte) bool {
	if len(before) == 0 || before[len(before)-1] != '"' {
		return false
	}
	before = bytes.TrimRight(before[:len(before)-1], " \t")
	return bytes.HasSuffix(before, key)
}

// messagePrefix is how step 4 starts a message object: checking for it
// first saves a search on the common path.
var messagePrefix = []byte(`{"type":"message"`)

// isMessage reports whether line is a step 4 object of type "message".
func isMessage(line []byte) bool {
	if bytes.HasPrefix(line, messagePrefix) {
		return true
	}
	t, ok := jsonField(line, typeKey)
	return ok && bytes.Equal(t, messageValue)
}

// objectType returns the "type" of a step 4 object ("" if it has none).
func objectType(line []byte) []byte {
	t, _ := jsonField(line, typeKey)
	return t
}
