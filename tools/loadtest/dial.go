package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// dialConcurrency bounds the handshakes in flight. Thousands at once
	// overflow a server's accept backlog, and dials then time out through
	// no fault of the server; 64 at a time still connects 8000 clients in
	// a few seconds.
	dialConcurrency = 64

	// handshakeTimeout bounds one client's TCP connect, WebSocket handshake
	// and (rooms) join, so that a server that accepts and then says
	// nothing is reported as such instead of using up -connect-timeout.
	handshakeTimeout = 10 * time.Second
)

// connectAll connects every client, dialConcurrency at a time, and starts
// its reader. It stops at the first failure (see failSetup) or when ctx ends.
func (r *run) connectAll(ctx context.Context) {
	n := r.cfg.clients
	r.clients = make([]*client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(dialConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := r.connect(ctx, i)
				if err != nil {
					if ctx.Err() == nil { // else the setup already failed or timed out
						r.failSetup(err)
					}
					return
				}
				r.clients[i] = c
				r.connected.Add(1)
			}
		}()
	}
	wg.Wait()
}

// connect opens client i's connection to its server and, with the rooms
// protocol, joins its room (rooms.go says which).
func (r *run) connect(ctx context.Context, i int) (*client, error) {
	server := r.cfg.servers[r.cfg.serverOf(i)] // rooms.go
	room := r.cfg.roomOf(i)
	target := server
	if r.cfg.protocol == protocolRooms {
		target = withName(server, "lt"+strconv.Itoa(i))
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	conn, resp, err := r.dialer.DialContext(ctx, target, nil)
	if err != nil {
		return nil, dialError(server, resp, err)
	}
	c := newClient(r, server, conn, room)
	go c.readLoop()
	if r.cfg.protocol == protocolRooms {
		if err := c.join(ctx); err != nil {
			r.failSetup(err) // before Close, so that this is the reason given
			conn.Close()
			<-c.readerDone
			return nil, err
		}
	}
	return c, nil
}

// withName adds step 4's user name to a server URL.
func withName(server, name string) string {
	u, err := url.Parse(server) // cannot fail: config.validate parsed it
	if err != nil {
		return server
	}
	q := u.Query()
	q.Set("name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// join sends step 4's join request and waits for the server's answer.
func (c *client) join(ctx context.Context) error {
	room := c.run.cfg.roomName(c.room)
	if deadline, ok := ctx.Deadline(); ok {
		c.conn.SetWriteDeadline(deadline)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, appendJoin(nil, room)); err != nil {
		return fmt.Errorf("%s: sending the join request: %v", c.url, err)
	}
	select {
	case <-c.joined:
		return nil
	case <-c.refused:
		return joinRefusedError(c)
	case <-c.readerDone:
		// The reader has reported why (connectionEnded); this error
		// only stops the worker.
		return fmt.Errorf("%s closed the connection before confirming the join", c.url)
	case <-ctx.Done():
		return fmt.Errorf("%s did not confirm joining room %q within %v", c.url, room, handshakeTimeout)
	}
}

// joinRefusedError reports the server's answer to a join it refused. Call
// it only after c.refused is closed (or from the reader itself).
func joinRefusedError(c *client) error {
	return fmt.Errorf("%s refused to join room %q: %s", c.url, c.run.cfg.roomName(c.room), c.joinRefusal)
}

// dialError turns a failed dial into one line that says what went wrong.
func dialError(server string, resp *http.Response, err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, websocket.ErrBadHandshake) && resp != nil:
		msg := fmt.Sprintf("%s refused the WebSocket upgrade: HTTP %s", server, resp.Status)
		if line := firstLine(resp); line != "" {
			msg += ": " + line
		}
		return errors.New(msg)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s: connection refused (is the server running?)", server)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%s did not complete the WebSocket handshake within %v", server, handshakeTimeout)
	default:
		return fmt.Errorf("cannot connect to %s: %v", server, err)
	}
}

// firstLine returns the first non-empty line of a refused upgrade's body
// (gorilla keeps its first kilobyte), shortened to fit on a terminal line.
func firstLine(resp *http.Response) string {
	const maxLen = 200
	if resp.Body == nil {
		return ""
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			if len(line) > maxLen {
				line = line[:maxLen] + "…"
			}
			return line
		}
	}
	return ""
}
