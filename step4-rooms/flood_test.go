package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Ten members that send 300 messages each, back to back, are paced: the
// members that read all the time, as a browser does, are not dropped as
// too slow, and a message sent during the flood reaches them.
func TestFloodersDoNotGetTheOthersDropped(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	flooders := make([]*batchConn, 10)
	for i := range flooders {
		flooders[i] = dialBatching(t, inst.url+fmt.Sprintf("?name=flooder%d", i))
		flooders[i].ws.WriteMessage(websocket.TextMessage, []byte(tagged(t, `{"type":"join","room":"lobby"}`)))
	}
	readers := make([]*testClient, 5)
	for i := range readers {
		readers[i] = connect(t, inst, fmt.Sprint("reader", i))
		readers[i].join("lobby")
	}
	sender := connect(t, inst, "sender")
	sender.join("lobby")
	waitFor(t, "everyone in the lobby", func() bool {
		inst.hub.mu.Lock()
		defer inst.hub.mu.Unlock()
		return len(inst.hub.rooms["lobby"+roomTag(t)].members) == 16
	})

	floodSeen := make(chan struct{}) // reader 0 has had 500 flood messages
	seen500 := sync.OnceFunc(func() { close(floodSeen) })
	results := make(chan error, len(readers))
	for i, r := range readers {
		go func() {
			r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for seen := 0; ; {
				_, frame, err := r.conn.ReadMessage()
				if err != nil {
					results <- fmt.Errorf("%s, after %d flood messages: %v", r.name, seen, err)
					return
				}
				if seen += strings.Count(string(frame), `"text":"flood `); i == 0 && seen >= 500 {
					seen500()
				}
				if strings.Contains(string(frame), `"text":"during the flood"`) {
					results <- nil
					return
				}
			}
		}()
	}
	// Each flooder's 300 frames leave in one write: as fast as a client can.
	for i, f := range flooders {
		f.batching = true
		for j := 0; j < 300; j++ {
			f.ws.WriteMessage(websocket.TextMessage, []byte(tagged(t, fmt.Sprintf(`{"type":"message","room":"lobby","text":"flood %d-%d"}`, i, j))))
		}
	}
	for _, f := range flooders {
		go f.Conn.Write(f.buf.Bytes())
	}

	select {
	case <-floodSeen:
	case err := <-results:
		t.Fatalf("before 500 flood messages: %v", err)
	}
	sender.say("lobby", "during the flood")
	for range readers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// A client that sends 300 requests back to back gets an answer to each,
// and is not dropped for the answers that queue up meanwhile.
func TestEveryRequestOfABurstIsAnswered(t *testing.T) {
	t.Parallel() // it waits for timeouts; it shares nothing with the others
	inst := startInstanceOn(t, newTestRedis(t))
	c := connect(t, inst, "eager")
	for i := 0; i < 300; i++ {
		c.sendJSON(request{Type: "join", Room: fmt.Sprint("room", i%20)})
	}
	for i := 0; i < 300; i++ {
		if ev := c.next(); ev.Type != "joined" && !strings.Contains(ev.Error, "too many rooms") {
			t.Fatalf("answer %d: %+v", i, ev)
		}
	}
}

// A burst of 2,000 messages published to a room's channel at once (one
// pipelined write, as any publisher may send it) is far below maxQueued for
// each member: every member, on both instances, reading as fast as it can
// as a browser does, stays connected and gets every message, in order.
func TestABurstFromRedisReachesEveryMember(t *testing.T) {
	const n = 2000
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	members := []*testClient{connect(t, a, "a1"), connect(t, a, "a2"), connect(t, b, "b1"), connect(t, b, "b2")}
	for _, m := range members {
		m.join("lobby")
	}
	results := make(chan error, len(members))
	for _, m := range members {
		go func() { results <- expectTexts(m, "burst ", n) }()
	}
	pipe := r.client(t).Pipeline()
	publish := pipe.Publish
	if r.cluster {
		publish = pipe.SPublish // as the instances do (cluster.go)
	}
	for j := 0; j < n; j++ {
		msg := event{Type: "message", Room: "lobby" + roomTag(t), User: "redis", Text: fmt.Sprint("burst ", j), TS: 1, ID: fmt.Sprint("b-", j)}
		publish(context.Background(), roomPrefix+"lobby"+roomTag(t), msg.encode())
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range members {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// Forty members on one instance that each send 40 messages at once, within
// their pace, make a burst of 1,600 messages, far below maxQueued: every
// member, and one on the other instance, stays connected and gets every
// message, each sender's in the order sent.
func TestManySendersAtOnceDropNoMember(t *testing.T) {
	const senders, each = 40, 40
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	members := make([]*testClient, senders, senders+1)
	for i := range members {
		members[i] = connect(t, a, fmt.Sprint("s", i))
		members[i].join("lobby")
	}
	members = append(members, connect(t, b, "other"))
	members[senders].join("lobby")

	results := make(chan error, len(members))
	for _, m := range members {
		go func() { results <- expectTexts(m, "", senders*each) }()
	}
	for i, m := range members[:senders] {
		go func() {
			for j := 0; j < each; j++ {
				m.conn.WriteMessage(websocket.TextMessage, []byte(tagged(t, fmt.Sprintf(`{"type":"message","room":"lobby","text":"%d-%d"}`, i, j))))
			}
		}()
	}
	for range members {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// expectTexts reads c's events until it has had n room messages, and checks
// they are distinct and, if prefix is not empty, prefix 0 to prefix n-1 in
// that order. Other events (a state of Redis, say) are skipped.
func expectTexts(c *testClient, prefix string, n int) error {
	seen := make(map[string]bool)
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(seen) < n {
		_, frame, err := c.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("%s: after %d of %d messages: %v", c.name, len(seen), n, err)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			var ev event
			json.Unmarshal([]byte(line), &ev)
			switch {
			case ev.Type != "message":
			case seen[ev.Text]:
				return fmt.Errorf("%s: %q twice", c.name, ev.Text)
			case prefix != "" && ev.Text != fmt.Sprint(prefix, len(seen)):
				return fmt.Errorf("%s: got %q where %s%d was due", c.name, ev.Text, prefix, len(seen))
			default:
				seen[ev.Text] = true
			}
		}
	}
	return nil
}

// A member that stops reading is dropped with 1008 once maxQueued bytes
// wait for it (plus what small kernel buffers took): what it holds stays
// bounded, and the others chat on.
func TestSlowMemberIsDroppedOthersKeepReceiving(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	slow := connect(t, inst, "slow") // never reads until the end
	slow.join("lobby")
	slow.conn.NetConn().(*net.TCPConn).SetReadBuffer(4096)
	inst.hub.mu.Lock()
	for c := range inst.hub.clients { // small kernel buffers: the server's side too
		c.conn.NetConn().(*net.TCPConn).SetWriteBuffer(4096)
	}
	inst.hub.mu.Unlock()
	sender, reader := connect(t, inst, "sender"), connect(t, inst, "reader")
	sender.join("lobby")
	reader.join("lobby")

	// One message at a time, each read by both healthy members before the
	// next: they always keep up, while the slow member's queue fills.
	text := strings.Repeat("😀", maxTextLength-10) // 4 bytes each
	for i := 0; numClients(inst.hub) == 3; i++ {
		if sent := i * len(text); sent > maxQueued+64<<10 {
			t.Fatalf("the slow member was not dropped after %d messages (%d bytes of text)", i, sent)
		}
		sender.say("lobby", fmt.Sprint(i, text))
		sender.expectMessage("lobby", fmt.Sprint(i, text))
		reader.expectMessage("lobby", fmt.Sprint(i, text))
	}
	if code := closeCode(t, slow.conn); code != websocket.ClosePolicyViolation {
		t.Errorf("slow member close code = %d, want %d", code, websocket.ClosePolicyViolation)
	}
	sender.say("lobby", "after")
	reader.expectMessage("lobby", "after")
}

// batchConn is a client's connection whose writes, once batching, wait in
// buf, so that a test can send many frames in one go.
type batchConn struct {
	net.Conn
	ws       *websocket.Conn
	batching bool
	buf      bytes.Buffer
}

func (c *batchConn) Write(p []byte) (int, error) {
	if c.batching {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

func dialBatching(t *testing.T, url string) *batchConn {
	t.Helper()
	bc := &batchConn{}
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		conn, err := net.Dial(network, addr)
		bc.Conn = conn
		return bc, err
	}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	bc.ws = ws
	return bc
}
