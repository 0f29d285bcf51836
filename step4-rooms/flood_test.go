package main

import (
	"bytes"
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
		flooders[i].ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"lobby"}`))
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
		return len(inst.hub.rooms["lobby"].members) == 16
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
			f.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"message","room":"lobby","text":"flood %d-%d"}`, i, j)))
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
