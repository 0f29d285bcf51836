package main

// This file is the bookkeeping behind join and leave. A first read can skip
// it: main.go tells the story (the first member in subscribes, the last one
// out unsubscribes), and this file makes it hold when things overlap.
//
// Redis answers each SUBSCRIBE and UNSUBSCRIBE on the subscription, in the
// order it got them, and relay hands the answers to answered. After join,
// leave, join, three commands are on their way, and only the answer to the
// last one tells how things stand: pending counts, per channel, the
// commands not yet answered. subMu makes sure that the commands reach Redis
// in the order the hub decided on them.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscribeTimeout bounds sending one SUBSCRIBE or UNSUBSCRIBE. Redis
// answers on the subscription, not here; a command that could not be sent
// is sent again by go-redis when it reconnects, if it is still wanted.
const subscribeTimeout = 3 * time.Second

// errNotSubscribed refuses a message while the room's subscription is down.
var errNotSubscribed = errors.New("not subscribed: Redis has not confirmed the room's subscription")

// mayJoin reports whether c may join the room now. If not, c is in it
// already (and hears "joined" again, if it has before), or in too many
// rooms (and hears why). The caller holds h.mu.
func (h *hub) mayJoin(c *client, name string) bool {
	if acked, in := c.rooms[name]; in {
		if acked {
			h.queue(c, event{Type: "joined", Room: name}.encode())
		}
		return false
	}
	if len(c.rooms) >= maxRoomsPerClient {
		h.queue(c, errorEvent(fmt.Sprintf("too many rooms: at most %d at once", maxRoomsPerClient)))
		return false
	}
	return true
}

// leaveAll takes a departing client out of all its rooms.
func (h *hub) leaveAll(c *client) {
	h.subMu.Lock()
	defer h.subMu.Unlock()

	h.mu.Lock()
	var emptied []string
	for name := range c.rooms {
		if h.leaveLocked(c, name) {
			emptied = append(emptied, roomPrefix+name)
		}
	}
	h.mu.Unlock()

	for _, channel := range emptied {
		h.changeSubscription(h.ps.Unsubscribe, channel)
	}
}

// leaveLocked takes c out of the room, and reports whether c was the last
// member on this instance. The caller holds h.mu.
func (h *hub) leaveLocked(c *client, name string) (last bool) {
	delete(c.rooms, name)
	r := h.rooms[name]
	delete(r.members, c)
	if len(r.members) > 0 {
		return false
	}
	delete(h.rooms, name)
	return true
}

// changeSubscription sends a SUBSCRIBE or UNSUBSCRIBE for channel, counted
// as pending until Redis answers. The caller holds subMu.
func (h *hub) changeSubscription(command func(context.Context, ...string) error, channel string) {
	h.mu.Lock()
	h.pending[channel]++
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if err := command(ctx, channel); err != nil {
		h.mu.Lock()
		if h.pending[channel] > 0 {
			h.pending[channel]-- // not sent: no answer will come
		}
		h.mu.Unlock()
	}
}

// answered handles Redis's answer to a SUBSCRIBE or UNSUBSCRIBE: once a
// room's subscription is confirmed, its members hear "joined".
func (h *hub) answered(s *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending[s.Channel] > 0 {
		h.pending[s.Channel]--
	}
	// Only the answer to the latest command tells how things stand.
	if h.pending[s.Channel] > 0 || s.Kind != "subscribe" {
		return
	}
	if s.Channel == broadcastChannel {
		if !h.subscribed {
			log.Printf("subscribed to Redis channel %q: Redis confirmed", s.Channel)
		}
		h.subscribed = true
		return
	}
	name, _ := strings.CutPrefix(s.Channel, roomPrefix)
	r := h.rooms[name]
	if r == nil || r.confirmed {
		return
	}
	r.confirmed = true
	joined := event{Type: "joined", Room: name}.encode()
	for c := range r.members {
		if !c.rooms[name] {
			c.rooms[name] = true
			h.queue(c, joined)
		}
	}
}

// lostSubscription records that the subscription broke, and reports
// whether that is news worth logging. Every room must be confirmed again:
// go-redis subscribes anew, and Redis answers anew, when it reconnects.
func (h *hub) lostSubscription() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.pending)
	for _, r := range h.rooms {
		r.confirmed = false
	}
	was := h.subscribed
	h.subscribed = false
	return was && !h.closing
}

// wantedChannels is every channel this instance needs: broadcast and its rooms.
func (h *hub) wantedChannels() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	channels := []string{broadcastChannel}
	for name := range h.rooms {
		channels = append(channels, roomPrefix+name)
	}
	return channels
}

// isMember reports whether c has joined the room (and been told so).
func (h *hub) isMember(c *client, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return c.rooms[name]
}

// roomConfirmed reports whether Redis has confirmed our subscription to the room.
func (h *hub) roomConfirmed(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	return r != nil && r.confirmed
}
