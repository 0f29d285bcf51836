package main

// This file is the bookkeeping that makes main.go's story (the first member
// in subscribes, the last one out unsubscribes) hold when joins and leaves
// overlap, and when the subscription breaks; a first read can skip it.
// Redis answers in the order the hub decided (subMu), and only the answer
// to the latest command counts (pending).

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
	h.closeGap(c, roomPrefix+name) // what it misses there is no longer its concern
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
	if h.pending[s.Channel] > 0 || s.Kind != "subscribe" && s.Kind != "ssubscribe" { // a room's, on a cluster
		return
	}
	name, room := strings.CutPrefix(s.Channel, roomPrefix)
	listeners := h.clients // of announcements; of a room, its members
	if r := h.rooms[name]; room && r != nil && !r.confirmed {
		r.confirmed, listeners = true, r.members
	} else if !room && !h.subscribed {
		log.Printf("subscribed to Redis channel %q: Redis confirmed", s.Channel)
		h.subscribed = true
	} else {
		return // it changes nothing
	}
	for c := range listeners {
		if room && !c.rooms[name] {
			c.rooms[name] = true
			h.queue(c, event{Type: "joined", Room: name}.encode())
		}
		h.closeGap(c, s.Channel) // "up", if it was the last it had lost
	}
}

// lost handles channels that Redis no longer sends us, their connection
// broken: on a single Redis, all of them. Pub/Sub delivers at most once:
// what is published meanwhile never reaches us, and we cannot know what we
// missed, only when. So until Redis confirms a channel again, its room
// refuses messages; and each client that was hearing one hears "down",
// with the rooms concerned, then "up" once all it lost is back (closeGap):
// messages in between may be missing. lost reports whether any of the
// channels was confirmed until now.
func (h *hub) lost(channels []string) (was bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	down := make(map[*client][]string) // the clients that have just lost something, and their rooms
	for _, channel := range channels {
		delete(h.pending, channel) // the answers are lost with the connection
		if channel == broadcastChannel {
			if h.subscribed {
				h.subscribed, was = false, true
				for c := range h.clients {
					openGap(c, channel)
					down[c] = down[c] // told, even with no room
				}
			}
			continue
		}
		name, _ := strings.CutPrefix(channel, roomPrefix)
		if r := h.rooms[name]; r != nil && r.confirmed {
			r.confirmed, was = false, true
			for c := range r.members {
				if c.rooms[name] { // one still waiting for "joined" misses nothing
					openGap(c, channel)
					down[c] = append(down[c], name)
				}
			}
		}
	}
	for c, rooms := range down {
		slices.Sort(rooms)
		h.queue(c, event{Type: "redis", State: "down", Rooms: rooms}.encode())
	}
	return was
}

// openGap notes that c lost channel. The caller holds h.mu.
func openGap(c *client, channel string) {
	if c.gap == nil {
		c.gap = make(map[string]bool)
	}
	c.gap[channel] = true
}

// closeGap notes that channel is no concern of c's any more, and tells c
// "up" if it was the last it had lost. The caller holds h.mu.
func (h *hub) closeGap(c *client, channel string) {
	if !c.gap[channel] {
		return
	}
	if delete(c.gap, channel); len(c.gap) == 0 {
		c.gap = nil // an idle client costs nothing more
		h.queue(c, event{Type: "redis", State: "up"}.encode())
	}
}

// carried is what the connection that carries channel carries: on a single
// Redis, every channel this instance needs, broadcast and its rooms, and
// with pending, those on their way on or off too: all that a broken
// connection takes with it. On a cluster, channel alone (cluster.go).
func (h *hub) carried(channel string, pending bool) []string {
	if _, ok := h.rdb.(clusterClient); ok {
		return []string{channel}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	channels := []string{broadcastChannel}
	for name := range h.rooms {
		channels = append(channels, roomPrefix+name)
	}
	for channel, n := range h.pending {
		if pending && n > 0 && !slices.Contains(channels, channel) {
			channels = append(channels, channel)
		}
	}
	return channels
}

// isMember reports whether c has joined the room (and been told so).
func (h *hub) isMember(c *client, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return c.rooms[name]
}

// confirmed reports whether Redis has confirmed our subscription to channel.
func (h *hub) confirmed(channel string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if channel == broadcastChannel {
		return h.subscribed
	}
	r := h.rooms[strings.TrimPrefix(channel, roomPrefix)]
	return r != nil && r.confirmed
}
