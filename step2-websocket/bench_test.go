package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkBroadcast measures the whole broadcast path over loopback: one
// client sends, the hub fans out, every client's writer frames and writes,
// and every client reads. It reports deliveries (messages × clients) per
// second. Messages go out in bursts of 32, far below maxQueued, so the
// benchmark measures throughput, not the slow-client rule; and the sender
// is not paced, so it measures the server, not clientLimit.
func BenchmarkBroadcast(b *testing.B) {
	for _, clients := range []int{10, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchmarkBroadcast(b, clients)
		})
	}
}

func benchmarkBroadcast(b *testing.B, clients int) {
	defer func(saved limiter) { clientLimit = saved }(clientLimit)
	clientLimit = limiter{} // measure the server, not the pacing
	h := newHub()
	srv := httptest.NewServer(newMux(h))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn
	}
	for numClients(h) < clients {
		runtime.Gosched() // the last Dial can return a moment before its client joins the hub
	}

	const burst = 32
	payload := []byte("a chat message of a typical length, some sixty bytes or so")
	var received sync.WaitGroup
	next := make([]chan int, clients) // how many messages each reader waits for next
	for i, conn := range conns {
		next[i] = make(chan int)
		go func() {
			for n := range next[i] {
				for n > 0 {
					_, frame, err := conn.ReadMessage()
					if err != nil {
						b.Error(err)
						return
					}
					n -= bytes.Count(frame, newline) + 1
				}
				received.Done()
			}
		}()
	}

	b.ResetTimer()
	for sent := 0; sent < b.N; sent += burst {
		n := min(burst, b.N-sent)
		received.Add(clients)
		for _, ch := range next {
			ch <- n
		}
		for i := 0; i < n; i++ {
			conns[0].WriteMessage(websocket.TextMessage, payload)
		}
		received.Wait()
	}
	b.StopTimer()
	for _, ch := range next {
		close(ch)
	}
	b.ReportMetric(float64(b.N)*float64(clients)/b.Elapsed().Seconds(), "deliveries/s")
}
