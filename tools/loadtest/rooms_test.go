package main

import "testing"

// The spread of clients over rooms and servers: rooms of equal size (within
// one), every room on every server it has members enough for, servers
// balanced, the first clients one per room, and plain round-robin for one room.
func TestRoomsSpread(t *testing.T) {
	for _, tc := range []struct{ clients, rooms, servers int }{
		{1000, 1, 2}, {1000, 50, 2}, {1000, 7, 2}, {1000, 2, 2}, {999, 10, 3}, {20, 20, 2}, {8, 3, 1},
	} {
		cfg := config{clients: tc.clients, rooms: tc.rooms, servers: make([]string, tc.servers)}
		perServer := make([]int, tc.servers)
		onServer := make([]map[int]bool, tc.rooms)
		for i := range tc.clients {
			room, server := cfg.roomOf(i), cfg.serverOf(i)
			if i < tc.rooms && room != i {
				t.Errorf("%+v: client %d is in room %d, want %d (the first clients one per room)", tc, i, room, i)
			}
			if tc.rooms == 1 && server != i%tc.servers {
				t.Errorf("%+v: client %d is on server %d, want %d (round-robin)", tc, i, server, i%tc.servers)
			}
			perServer[server]++
			if onServer[room] == nil {
				onServer[room] = make(map[int]bool)
			}
			onServer[room][server] = true
		}
		sizes := cfg.roomSizes()
		for room, size := range sizes {
			if size < sizes[len(sizes)-1] || size > sizes[0] || sizes[0]-sizes[len(sizes)-1] > 1 {
				t.Errorf("%+v: room sizes %v: want equal within one", tc, sizes)
				break
			}
			if want := min(int(size), tc.servers); len(onServer[room]) != want {
				t.Errorf("%+v: room %d (%d members) is on %d servers, want %d", tc, room, size, len(onServer[room]), want)
			}
		}
		lo, hi := perServer[0], perServer[0]
		for _, n := range perServer {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > tc.servers-1 {
			t.Errorf("%+v: clients per server %v: too uneven", tc, perServer)
		}
	}
}

func TestRoomName(t *testing.T) {
	one := config{room: "load", rooms: 1}
	many := config{room: "load", rooms: 3}
	if one.roomName(0) != "load" || many.roomName(2) != "load-2" {
		t.Errorf("room names %q, %q; want load and load-2", one.roomName(0), many.roomName(2))
	}
}
