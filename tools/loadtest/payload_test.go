package main

import (
	"fmt"
	"io"
	"testing"
	"time"
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
		// Step 4 now says which instance a message came through.
		{`{"type":"message","room":"load","user":"lt1","text":"lt a 1 2 3","ts":1,"id":"x","via":"3460"}`, "lt a 1 2 3", true},
		{`{"text":"lt a 1 2 3","via":"3460"}`, "", false},                 // step 3: no type, not a step 4 message
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

// What the text protocol makes of each kind of line: step 2 sends the
// payload as is, step 3 a JSON object per line.
func TestTextLines(t *testing.T) {
	r := lineRun(config{senders: 4, protocol: protocolText}, "a", 64)
	for _, tc := range []struct {
		line   string
		result lineResult
		other  int64 // counted as somebody else's message
	}{
		{"lt a 1 2 3", lineNew, 0},                                   // step 2
		{`{"text":"lt a 1 2 3","via":"3460"}`, lineNew, 0},           // step 3
		{`{"via":"3460","text":"lt a 1 2 3"}`, lineNew, 0},           // any field order
		{`{"text": "lt a 1 2 3", "via": "3460"}`, lineNew, 0},        // spaces
		{`{"text":"lt a 2 5 3","via":"redis"}`, lineNew, 0},          // published into Redis by hand
		{`{"redis":"up"}`, lineOther, 0},                             // Redis state: not a message
		{`{"redis":"down"}`, lineOther, 0},                           //
		{`{"notice":"lt a 1 2 3 was not sent"}`, lineOther, 0},       // a notice, even one quoting a payload
		{`{"text":"\u003cb\u003ehi","via":"3460"}`, lineOther, 1},    // a person's message, escaped
		{`{"text":"lt b 1 2 3","via":"3460"}`, lineOther, 1},         // another run
		{`{"text":"say \"lt a 1 2 3\"","via":"3460"}`, lineOther, 1}, // quoted inside a text
		{`{"text":"lt a 1 2 3\u003c","via":"3460"}`, lineOther, 1},   // more after the payload
		{`{"text":"lt a 1 2 3`, lineOther, 1},                        // cut short
		{"hello", lineOther, 1},                                      // step 2, a person
	} {
		c := &client{run: r}
		if got := c.handleLine([]byte(tc.line), 5); got != tc.result || c.notOurs != tc.other {
			t.Errorf("handleLine(%s) = %v with %d other; want %v with %d", tc.line, got, c.notOurs, tc.result, tc.other)
		}
	}
}

// lineRun is a run to feed lines to a client by hand: cfg needs senders and
// protocol; one client and one room unless cfg says otherwise.
func lineRun(cfg config, runID string, maxSeq int64) *run {
	cfg.clients = max(cfg.clients, 1)
	cfg.rooms = max(cfg.rooms, 1)
	cfg.rate, cfg.duration = 1, time.Second // for newRun; maxSeq is set below
	r := newRun(cfg, io.Discard)
	r.prefix, r.maxSeq = runPrefix(runID), maxSeq
	return r
}

// With several rooms, a client counts the messages of its own room's
// senders; another room's message is counted apart, never as received.
func TestWrongRoom(t *testing.T) {
	// Senders 0 and 2 are in room 0, senders 1 and 3 in room 1 (rooms.go).
	r := lineRun(config{senders: 4, clients: 4, rooms: 2, protocol: protocolRooms, room: "load"}, "a", 64)
	c := &client{run: r, room: 1, joinAnswered: true}
	c.handleFrame([]byte(`{"type":"message","room":"load-1","text":"lt a 1 0 3"}`+"\n"+
		`{"type":"message","room":"load-1","text":"lt a 3 0 3"}`+"\n"+
		`{"type":"message","room":"load-0","text":"lt a 2 0 3"}`), 5)
	if c.received.Load() != 2 || c.wrongRoom != 1 || c.notOurs != 0 {
		t.Errorf("received %d, wrong room %d, other %d; want 2, 1, 0", c.received.Load(), c.wrongRoom, c.notOurs)
	}
}

// A step 3 frame: the Redis state first, then messages, a notice and a
// probe, one per line.
func TestStep3Frame(t *testing.T) {
	r := lineRun(config{senders: 4, protocol: protocolText}, "a", 64)
	c := &client{run: r}
	frame := []byte(`{"redis":"up"}` + "\n" +
		`{"text":"lt a 1 2 3","via":"3460"}` + "\n" +
		`{"notice":"Your last message was not sent: Redis is unavailable. Try again in a moment."}` + "\n" +
		`{"text":"lt a ready 0","via":"3461"}` + "\n" +
		`{"text":"hi there","via":"3461"}` + "\n" +
		`{"text":"lt a 1 2 3","via":"3460"}` + "\n" +
		`{"text":"lt a 0 7 4","via":"3461"}`)
	c.handleFrame(frame, 10)
	if got := c.received.Load(); got != 2 {
		t.Errorf("received %d, want 2", got)
	}
	if got := c.dups.Load(); got != 1 {
		t.Errorf("duplicates %d, want 1", got)
	}
	if c.notOurs != 1 {
		t.Errorf("other %d, want 1 (hi there)", c.notOurs)
	}
	if !c.probed.Load() {
		t.Error("the probe was not seen")
	}
	var samples uint64
	if c.latency != nil {
		for _, n := range c.latency.counts {
			samples += n
		}
	}
	if samples != 2 {
		t.Errorf("%d latencies recorded, want 2", samples)
	}
}

// Counting a delivery allocates nothing, whichever step sent it (once a
// client has its bitset and histogram).
func TestHandleFrameAllocates0(t *testing.T) {
	for _, tc := range []struct{ proto, frame string }{
		{protocolText, "lt a 1 2 3\nlt a 2 2 3"},
		{protocolText, `{"redis":"up"}` + "\n" + `{"text":"lt a 1 2 3","via":"3460"}` + "\n" + `{"notice":"hi"}` + "\n" + `{"text":"hi","via":"3460"}`},
		{protocolRooms, `{"type":"message","room":"load","user":"lt1","text":"lt a 1 2 3","ts":1,"id":"x","via":"3460"}` + "\n" + `{"type":"announcement","room":"load","text":"lt1 joined"}`},
	} {
		r := lineRun(config{senders: 4, protocol: tc.proto, room: "load"}, "a", 64)
		c := &client{run: r, joinAnswered: true}
		frame := []byte(tc.frame)
		c.handleFrame(frame, 10)
		if c.received.Load() == 0 {
			t.Fatalf("%s: nothing counted in %s", tc.proto, frame)
		}
		if n := testing.AllocsPerRun(100, func() { c.handleFrame(frame, 10) }); n != 0 {
			t.Errorf("%s: %v allocations per frame %s", tc.proto, n, frame)
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
	for _, tc := range []struct{ name, proto, format string }{
		{"text", protocolText, "%[2]s"},                              // step 2
		{"text-json", protocolText, `{"text":"%[2]s","via":"3460"}`}, // step 3
		{protocolRooms, protocolRooms, `{"type":"message","room":"load","user":"lt%[1]d","text":"%[2]s","ts":1700000000000,"id":"1-%[1]d","via":"3460"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := config{senders: 20, protocol: tc.proto, room: "load"}
			r := lineRun(cfg, "abcd1234", 1<<20)
			c := &client{run: r}
			// A frame of 16 messages, as a batching server sends under load.
			var frame []byte
			for i := range 16 {
				if i > 0 {
					frame = append(frame, '\n')
				}
				p := appendPayload(nil, r.prefix, i%20, int64(i), 1700000000000000000)
				frame = fmt.Appendf(frame, tc.format, i, p)
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
			if c.received.Load() == 0 || c.notOurs != 0 {
				b.Fatalf("received %d, other %d: the frame was not counted", c.received.Load(), c.notOurs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/delivery")
		})
	}
}
