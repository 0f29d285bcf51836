package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkRoomBroadcast measures a room's whole message path over
// loopback: one member sends, the instance publishes to the room's channel
// (miniredis, or the Redis that REDIS_TEST_URL names), the subscription
// hands it back, the hub fans out to the room, and every member reads. It
// reports deliveries (messages × members) per second. Messages go out in
// bursts of 32, far below maxQueued, so the benchmark measures throughput,
// not the slow-client rule; and the sender is not paced (clientLimit).
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, members := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			benchmarkRoomBroadcast(b, members)
		})
	}
}

func benchmarkRoomBroadcast(b *testing.B, members int) {
	defer func(saved limiter) { clientLimit = saved }(clientLimit)
	clientLimit = limiter{} // measure the server, not the pacing
	// The instance logs as it starts; that would garble the benchmark lines.
	defer log.SetOutput(log.Writer())
	log.SetOutput(io.Discard)

	inst := startInstanceOn(b, newTestRedis(b))
	clients := make([]*testClient, members)
	for i := range clients {
		clients[i] = connect(b, inst, fmt.Sprint("member", i))
		clients[i].join("bench")
	}

	const burst = 32
	frame := []byte(tagged(b, `{"type":"message","room":"bench","text":"a chat message of a typical length, some sixty bytes or so"}`))
	var received sync.WaitGroup
	next := make([]chan int, members) // how many messages each reader waits for next
	for i, c := range clients {
		next[i] = make(chan int)
		go func() {
			for n := range next[i] {
				for n > 0 {
					_, data, err := c.conn.ReadMessage()
					if err != nil {
						b.Error(err)
						return
					}
					n -= bytes.Count(data, newline) + 1
				}
				received.Done()
			}
		}()
	}

	b.ResetTimer()
	for sent := 0; sent < b.N; sent += burst {
		n := min(burst, b.N-sent)
		received.Add(members)
		for _, ch := range next {
			ch <- n
		}
		for i := 0; i < n; i++ {
			clients[0].conn.WriteMessage(websocket.TextMessage, frame)
		}
		received.Wait()
	}
	b.StopTimer()
	for _, ch := range next {
		close(ch)
	}
	b.ReportMetric(float64(b.N)*float64(members)/b.Elapsed().Seconds(), "deliveries/s")
}
