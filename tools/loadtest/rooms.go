package main

import "strconv"

// How the clients are spread over the rooms (-rooms N) and the servers
// (-servers, S of them). Clients are dealt out room by room: client i joins
// room i mod N, in rounds of N clients. Within a round the servers take
// turns, and each round starts one server further on: client i talks to
// server (i mod N + i div N) mod S. So every room has members on every
// server (plain i mod S would put all of a room on one server whenever S
// divides N, and no message would need Redis to cross), the servers stay
// balanced within one client for two servers, and with one room it is
// plain round-robin, i mod S.
//
// The first N clients are the first member of each room, in order: client
// r sends room r's probe. The senders are the first -senders clients, so
// with at most N senders each sends to a room of its own; with more, the
// rooms get one more sender each, round after round.

// roomOf is the room client i joins: 0 to rooms-1.
func (c *config) roomOf(i int) int {
	return i % c.rooms
}

// serverOf is the server client i connects to: an index into c.servers.
func (c *config) serverOf(i int) int {
	return (i%c.rooms + i/c.rooms) % len(c.servers)
}

// roomName is the name of room r: -room itself when there is one room,
// else -room with "-r" after it.
func (c *config) roomName(r int) string {
	if c.rooms <= 1 {
		return c.room
	}
	return c.room + "-" + strconv.Itoa(r)
}

// roomSizes counts the members of each room.
func (c *config) roomSizes() []int64 {
	sizes := make([]int64, c.rooms)
	for i := range c.clients {
		sizes[c.roomOf(i)]++
	}
	return sizes
}
