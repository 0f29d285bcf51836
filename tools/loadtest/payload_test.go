package main

import (
	"fmt"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	prefix := runPrefix("abc123")
	p := appendPayload(nil, prefix, 17, 4242, 1700000000123456789)
	if string(p) != "lt abc123 17 4242 1700000000123456789" {
		t.Fatalf("payload = %q", p)
	}
	kind, sender, seq, at := parsePayload(p, prefix)
	if kind != counted || sender != 17 || seq != 4242 || at != 1700000000123456789 {
		t.Errorf("parsed %v %d %d %d", kind, sender, seq, at)
	}
	if kind, _, _, _ := parsePayload(appendProbe(nil, prefix, 3), prefix); kind != probe {
		t.Errorf("a probe parsed as %v", kind)
	}
}

func TestParsePayloadRejects(t *testing.T) {
	prefix := runPrefix("abc123")
	for _, p := range []string{
		"",
		"hello",
		"lt other1 1 2 3",                    // another run
		"lt abc123 1 2",                      // too short
		"lt abc123 1 2 3 4",                  // too long
		"lt abc123 1 2 3x",                   // trailing garbage
		"lt abc123 -1 2 3",                   // a sign
		"lt abc123 1  2 3",                   // two spaces
		"lt abc123 1 2 99999999999999999999", // overflows int64
		"lt abc123 1 2 9999999999999999999",  // 19 digits, above MaxInt64
	} {
		if kind, _, _, _ := parsePayload([]byte(p), prefix); kind != notOurs {
			t.Errorf("parsePayload(%q) = %v, want notOurs", p, kind)
		}
	}
}

func TestMessageText(t *testing.T) {
	prefix := runPrefix("a")
	for _, tc := range []struct {
		line, text string
		ok         bool
	}{
		{`{"type":"message","room":"load","user":"lt1","text":"lt a 1 2 3","ts":1,"id":"x"}`, "lt a 1 2 3", true},
		{`{"id":"x","room":"load","text":"lt a 1 2 3","ts":1,"type":"message","user":"lt1"}`, "lt a 1 2 3", true},
		{`{"type": "message", "text": "lt a 1 2 3"}`, "lt a 1 2 3", true},
		{`{"type":"message","text":"lt b 1 2 3"}`, "", false},             // another run
		{`{"type":"message","user":"lt a 1 2 3","text":"hi"}`, "", false}, // not the text
		{`{"type":"error","text":"lt a 1 2 3: too long"}`, "", false},     // not a message
		{`{"type":"announcement","room":"load","text":"lt1 joined"}`, "", false},
		{`{"type":"joined","room":"load"}`, "", false},
		{`{"type":"message","text":"say \"lt a 1 2 3\""}`, "", false}, // quoted inside a text
		{`{"type":"message","text":"lt a 1 2 3`, "", false},           // cut short
		{`not json`, "", false},
	} {
		text, ok := messageText([]byte(tc.line), prefix)
		if ok != tc.ok || string(text) != tc.text {
			t.Errorf("messageText(%s) = %q, %v; want %q, %v", tc.line, text, ok, tc.text, tc.ok)
		}
	}
}

func TestObjectType(t *testing.T) {
	if got := string(objectType([]byte(`{"room":"load","type":"joined"}`))); got != "joined" {
		t.Errorf("objectType = %q, want joined", got)
	}
	if got := objectType([]byte(`{"room":"load"}`)); got != nil {
		t.Errorf("objectType without a type = %q, want nothing", got)
	}
}

// The JSON the load generator writes is what step 4 expects.
func TestRoomsRequests(t *testing.T) {
	if got := string(appendJoin(nil, "load")); got != `{"type":"join","room":"load"}` {
		t.Errorf("join = %s", got)
	}
	if got := string(appendMessage(nil, "load", []byte("lt a 1 2 3"))); got != `{"type":"message","room":"load","text":"lt a 1 2 3"}` {
		t.Errorf("message = %s", got)
	}
}

// The receiving side's work per delivery: find the message, parse it, check
// for a duplicate, record the latency. It must stay far below a microsecond
// (the target is a million deliveries a second on one core), allocation-free.
func BenchmarkHandleFrame(b *testing.B) {
	for _, proto := range []string{protocolText, protocolRooms} {
		b.Run(proto, func(b *testing.B) {
			cfg := config{senders: 20, protocol: proto, room: "load"}
			r := &run{cfg: cfg, prefix: runPrefix("abcd1234"), maxSeq: 1 << 20}
			r.target.Store(1 << 62)
			c := &client{run: r}
			// A frame of 16 messages, as a batching server sends under load.
			var frame []byte
			for i := range 16 {
				if i > 0 {
					frame = append(frame, '\n')
				}
				p := appendPayload(nil, r.prefix, i%20, int64(i), 1700000000000000000)
				if proto == protocolRooms {
					frame = fmt.Appendf(frame, `{"type":"message","room":"load","user":"lt%d","text":"%s","ts":1700000000000,"id":"1-%d"}`, i, p, i)
				} else {
					frame = append(frame, p...)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				c.handleFrame(frame, 1700000000001000000)
				// Forget the sequence numbers (0 to 15, all in the first
				// word), so that every line counts as new next time.
				for _, bits := range c.seen {
					if bits != nil {
						bits[0] = 0
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/delivery")
		})
	}
}
