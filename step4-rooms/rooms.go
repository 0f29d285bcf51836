package main

// This file is the bookkeeping that keeps main.go's story (the first member in
// subscribes, the last one out unsubscribes) true in a race or an outage; a
// first read can skip it.

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

// mayJoin reports whether c may join the room, and tells c why not (h.mu held).
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
	if delete(r.members, c); len(r.members) > 0 {
		return false
	}
	delete(h.rooms, name)
	return true
}

// changeSubscription sends a SUBSCRIBE or UNSUBSCRIBE. subMu is held, so
// that Redis answers in the order decided; only the answer to the latest
// command counts (pending), and a lost subscription loses its answer.
func (h *hub) changeSubscription(command func(context.Context, ...string) error, channel string) {
	h.mu.Lock()
	h.pending[channel]++
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	command(ctx, channel)
}

// answered handles Redis's answers: once a room is confirmed, its members
// hear "joined". Only the answer to the latest command tells how things stand.
func (h *hub) answered(s *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending[s.Channel] = max(h.pending[s.Channel]-1, 0)
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
	up := event{Type: "redis", State: "up"} // after "down" (lost): announcements, or the room, are back
	if room {
		up.Rooms = []string{name}
	}
	for c := range listeners {
		if room && !c.rooms[name] {
			c.rooms[name] = true
			h.queue(c, event{Type: "joined", Room: name}.encode())
		} else {
			h.queue(c, up.encode())
		}
	}
}

// lost handles channels whose connection broke. Pub/Sub delivers at most
// once: we cannot know what we missed meanwhile, only when. So until Redis
// confirms a channel again, its room refuses messages, and each client that
// heard it hears "down" with its rooms concerned, then "up" for each as it
// comes back (answered). lost reports whether any channel was confirmed.
func (h *hub) lost(channels []string) (was bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	down := make(map[*client][]string) // who has just lost something, and in which rooms
	for _, channel := range channels {
		delete(h.pending, channel) // the answers are lost with the connection
		name, room := strings.CutPrefix(channel, roomPrefix)
		listeners := h.clients // of announcements; of a room, its members
		if r := h.rooms[name]; room && r != nil && r.confirmed {
			r.confirmed, listeners, was = false, r.members, true
		} else if !room && h.subscribed {
			h.subscribed, was = false, true
		} else {
			continue // not confirmed: nothing to lose
		}
		for c := range listeners {
			if room && !c.rooms[name] {
				continue // waiting for "joined", it misses nothing
			}
			down[c] = append(down[c], name) // broadcast too: told, in no room
		}
	}
	for c, rooms := range down {
		rooms = slices.DeleteFunc(rooms, func(name string) bool { return name == broadcastChannel })
		slices.Sort(rooms)
		h.queue(c, event{Type: "redis", State: "down", Rooms: rooms}.encode())
	}
	return was
}

// carried is what channel's connection carries: on a cluster, channel alone;
// on one Redis, broadcast and every room, and with pending those on their way.
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
