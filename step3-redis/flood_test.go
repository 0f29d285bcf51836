package main

import (
	"bytes"
	"context"
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

// A burst of 4,000 messages published to Redis at once (one pipelined
// write, as any publisher may send it) is far below maxQueued for each
// client: every client, on both instances, reading as fast as it can as a
// browser does, stays connected and gets every message, in order.
func TestABurstFromRedisReachesEveryReader(t *testing.T) {
	const n = 4000
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	readers := []*websocket.Conn{dial(t, a.url), dial(t, a.url), dial(t, b.url), dial(t, b.url)}
	waitFor(t, "the readers in the hubs", func() bool { return numClients(a.hub) == 2 && numClients(b.hub) == 2 })

	results := make(chan error, len(readers))
	for i, conn := range readers {
		go func() {
			lines, err := tryReadLines(conn, n)
			for j := 0; err == nil && j < n; j++ {
				if lines[j] != fmt.Sprint("burst ", j) {
					err = fmt.Errorf("message %d is %q", j, lines[j])
				}
			}
			if err != nil {
				err = fmt.Errorf("reader %d: %v", i, err)
			}
			results <- err
		}()
	}
	pipe := r.client(t).Pipeline()
	for j := 0; j < n; j++ {
		pipe.Publish(context.Background(), chatChannel, fmt.Sprint("burst ", j))
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range readers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// Sixty clients on one instance that each send 50 messages at once, within
// their pace, make a burst of 3,000 messages, far below maxQueued: every
// client, and a reader on the other instance, stays connected and gets
// every message.
func TestManySendersAtOnceDropNoReader(t *testing.T) {
	const clients, each = 60, 50
	r := newTestRedis(t)
	a, b := startInstanceOn(t, r), startInstanceOn(t, r)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, a.url)
	}
	other := dial(t, b.url)
	waitFor(t, "every client in the hubs", func() bool { return numClients(a.hub) == clients && numClients(b.hub) == 1 })

	results := make(chan error, clients+1)
	read := func(name string, conn *websocket.Conn) {
		lines, err := tryReadLines(conn, clients*each)
		seen := make(map[string]bool)
		for _, l := range lines {
			seen[l] = true
		}
		if err == nil && len(seen) != clients*each {
			err = fmt.Errorf("%d distinct messages of %d", len(seen), clients*each)
		}
		if err != nil {
			err = fmt.Errorf("%s: %v", name, err)
		}
		results <- err
	}
	go read("the reader on the other instance", other)
	for i, conn := range conns {
		go read(fmt.Sprint("client ", i), conn)
		go func() {
			for j := 0; j < each; j++ {
				conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("burst %d-%d", i, j)))
			}
		}()
	}
	for range clients + 1 {
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
