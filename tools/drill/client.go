package main

// One drill client: a WebSocket through the balancer, in one room, as the
// step-4 page behaves. When the connection closes it waits (backoff with
// jitter), connects again, and joins its room with the id of the last
// message it saw ("since"), so that a server that keeps history can send
// what it missed.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	firstRetry = 500 * time.Millisecond // the page's first wait before reconnecting
	maxRetry   = 10 * time.Second       // its longest
	joinWait   = 10 * time.Second       // for "joined" after a join
)

// backoff is how long to wait before attempt n (0, 1, ...): doubling from
// firstRetry up to maxRetry, each a random time between half and all of it,
// so that clients dropped together do not all come back at the same instant.
func backoff(n int) time.Duration {
	d := maxRetry
	if n < 10 {
		d = min(firstRetry<<n, maxRetry)
	}
	return d/2 + rand.N(d/2)
}

// event is what the server sends; the drill reads these fields.
type event struct {
	Type      string `json:"type"`
	Room      string `json:"room"`
	User      string `json:"user"`
	Text      string `json:"text"`
	ID        string `json:"id"`
	Via       string `json:"via"`
	Error     string `json:"error"`
	Recovered *bool  `json:"recovered"`
}

type client struct {
	name, room, url string

	mu        sync.Mutex
	conn      *websocket.Conn // nil while reconnecting
	joined    bool            // in the room on this connection
	lastID    string          // the id of the last message seen in the room
	received  map[string]int  // message text -> how many times it arrived
	lost      time.Time       // when the connection last closed
	reconnect []time.Duration // from a close to "joined" again, each time
	closes    map[string]int  // why connections closed: "1001 server shutting down", ...
	recovered map[string]int  // "recovered" in each rejoin's "joined": "true", "false", "absent"
	errors    []string        // error events
}

func newClient(name, room, url string) *client {
	return &client{name: name, room: room, url: url, received: make(map[string]int),
		closes: make(map[string]int), recovered: make(map[string]int)}
}

// run connects, and reconnects whenever the connection ends, until stop is
// closed. ready is called once, when the client is first in its room.
func (c *client) run(stop <-chan struct{}, ready func()) {
	first := true
	for attempt := 0; ; attempt++ {
		select {
		case <-stop:
			return
		default:
		}
		if !first {
			select {
			case <-stop:
				return
			case <-time.After(backoff(attempt)):
			}
		}
		conn, _, err := websocket.DefaultDialer.Dial(c.url+"?name="+c.name, nil)
		if err != nil {
			continue
		}
		attempt = -1 // connected: the next loss starts from firstRetry again
		c.serve(conn, stop, first, ready)
		first = false
	}
}

// serve joins the room on conn and reads until the connection ends.
func (c *client) serve(conn *websocket.Conn, stop <-chan struct{}, first bool, ready func()) {
	go func() { <-stop; conn.Close() }()
	c.mu.Lock()
	c.conn, c.joined = conn, false
	join := map[string]string{"type": "join", "room": c.room}
	if c.lastID != "" {
		join["since"] = c.lastID
	}
	c.mu.Unlock()
	c.write(join)
	conn.SetReadDeadline(time.Now().Add(joinWait))
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			c.closed(err)
			return
		}
		for _, line := range strings.Split(string(frame), "\n") {
			var ev event
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			if c.handle(ev, first) && first {
				conn.SetReadDeadline(time.Time{})
				ready()
			} else if ev.Type == "joined" {
				conn.SetReadDeadline(time.Time{})
			}
		}
	}
}

// handle records ev, and reports whether it was the first "joined".
func (c *client) handle(ev event, first bool) (firstJoined bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Type {
	case "joined":
		if ev.Room != c.room || c.joined {
			return false
		}
		c.joined = true
		if !first {
			c.reconnect = append(c.reconnect, time.Since(c.lost))
			switch {
			case ev.Recovered == nil:
				c.recovered["absent"]++
			case *ev.Recovered:
				c.recovered["true"]++
			default:
				c.recovered["false"]++
			}
		}
		return first
	case "message":
		if ev.Room == c.room {
			c.received[ev.Text]++
			c.lastID = ev.ID
		}
	case "error":
		c.errors = append(c.errors, ev.Error)
	}
	return false
}

func (c *client) closed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.joined, c.lost = nil, false, time.Now()
	why := "no close frame"
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		why = fmt.Sprintf("%d %s", ce.Code, ce.Text)
	}
	c.closes[why]++
}

// say sends a message to the room if the client is in it now, and reports
// whether it did.
func (c *client) say(text string) bool {
	c.mu.Lock()
	ok := c.joined
	c.mu.Unlock()
	return ok && c.write(map[string]string{"type": "message", "room": c.room, "text": text}) == nil
}

// write sends one request; the mutex keeps it the connection's only writer.
func (c *client) write(req map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return errors.New("not connected")
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.conn.WriteJSON(req)
}
