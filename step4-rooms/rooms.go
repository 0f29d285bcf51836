package main

// This file is the bookkeeping that makes main.go's story (the first member
// in subscribes, the last one out unsubscribes) hold when joins and leaves
// overlap; a first read can skip it. Redis answers in the order the hub
// decided (subMu), and only the answer to the latest command counts (pending).

import (
	"context"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// mayJoin reports whether c may join the room, and tells c why not (or that
// "joined" will wait for Redis). The caller holds h.mu.
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
	h.mu.Lock()
	rooms := slices.Collect(maps.Keys(c.rooms))
	h.mu.Unlock()
	for _, name := range rooms {
		h.leave(c, name)
	}
}

// leaveLocked takes c out of the room and reports if it was the last one (h.mu held).
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

// changeSubscription sends a SUBSCRIBE or UNSUBSCRIBE, pending until answered
// or lost with the subscription (go-redis resends it then). subMu is held.
func (h *hub) changeSubscription(command func(context.Context, ...string) error, channel string) {
	h.mu.Lock()
	h.pending[channel]++
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	command(ctx, channel)
}

// answered handles Redis's answers: once a room is confirmed, its members hear "joined".
func (h *hub) answered(s *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending[s.Channel] = max(h.pending[s.Channel]-1, 0)
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

// lostSubscription marks every room unconfirmed, and reports whether the subscription was.
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
