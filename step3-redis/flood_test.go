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

// Ten clients that send 300 messages each, back to back, are paced: the
// clients that read all the time, as a browser does, are not dropped as
// too slow, and a message sent during the flood reaches them.
func TestFloodersDoNotGetTheOthersDropped(t *testing.T) {
	inst := startInstanceOn(t, newTestRedis(t))
	flooders := make([]*batchConn, 10)
	readers := make([]*websocket.Conn, 5)
	for i := range flooders {
		flooders[i] = dialBatching(t, inst.url)
	}
	for i := range readers {
		readers[i] = dial(t, inst.url)
	}
	sender := dial(t, inst.url)
	waitFor(t, "16 clients", func() bool { return numClients(inst.hub) == 16 })

	floodSeen := make(chan struct{}) // reader 0 has had 500 flood messages
	seen500 := sync.OnceFunc(func() { close(floodSeen) })
	results := make(chan error, len(readers))
	for i, r := range readers {
		go func() {
			r.SetReadDeadline(time.Now().Add(30 * time.Second))
			for seen := 0; ; {
				_, frame, err := r.ReadMessage()
				if err != nil {
					results <- fmt.Errorf("reader %d, after %d flood messages: %v", i, seen, err)
					return
				}
				if seen += strings.Count(string(frame), "flood "); i == 0 && seen >= 500 {
					seen500()
				}
				if strings.Contains(string(frame), "during the flood") {
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
			f.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("flood %d-%d", i, j)))
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
	sender.WriteMessage(websocket.TextMessage, []byte("during the flood"))
	for range readers {
		if err := <-results; err != nil {
			t.Error(err)
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
