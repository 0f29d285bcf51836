package main

// This file is the bookkeeping behind join and leave; a first read can skip
// it. main.go tells the story (the first member in subscribes, the last one
// out unsubscribes); this file makes it hold when joins and leaves overlap.
// Redis answers each SUBSCRIBE and UNSUBSCRIBE in the order it got them
// (subMu keeps that the order the hub decided on). After join, leave, join,
// only the third answer tells how things stand: pending counts, per
// channel, the commands not yet answered.

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// mayJoin reports whether c may join the room now. If not, c is in it
// already (and hears "joined" again, if it has before), or in too many
// rooms (and hears why). While Redis is unavailable, c may join, and
// hears that "joined" will wait. The caller holds h.mu.
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
	if !h.subscribed {
		h.queue(c, errorEvent(fmt.Sprintf("Redis is unavailable: you will be in room %q once it is back", name)))
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

// changeSubscription sends a SUBSCRIBE or UNSUBSCRIBE for channel, pending
// until Redis answers. (If it cannot be sent, the subscription is down:
// go-redis sends what is still wanted when it reconnects, and
// lostSubscription forgets what was pending.) The caller holds subMu.
func (h *hub) changeSubscription(command func(context.Context, ...string) error, channel string) {
	h.mu.Lock()
	h.pending[channel]++
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	command(ctx, channel)
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
// whether it was confirmed until now. Every room must be confirmed anew.
func (h *hub) lostSubscription() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.pending)
	for _, r := range h.rooms {
		r.confirmed = false
	}
	was := h.subscribed
	h.subscribed = false
	return was
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
