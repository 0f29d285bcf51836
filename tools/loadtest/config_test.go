package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]string{"-servers", "ws://a:1/ws, ws://b:2/ws", "-clients", "1000",
		"-senders", "20", "-rate", "2000", "-duration", "10s", "-protocol", "rooms", "-room", "r-1", "-rooms", "50"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.servers) != 2 || cfg.servers[1] != "ws://b:2/ws" || cfg.clients != 1000 || cfg.protocol != protocolRooms || cfg.rooms != 50 {
		t.Errorf("parsed %+v", cfg)
	}
	if got := cfg.interval(); got != 10*time.Millisecond {
		t.Errorf("interval = %v, want 10ms (20 senders sharing 2000/s)", got)
	}
	if cfg.drain != 2*time.Second {
		t.Errorf("default drain = %v, want 2s", cfg.drain)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-servers", "http://x/ws"}, "not a ws:// or wss:// URL"},
		{[]string{"-servers", ","}, "no server"},
		{[]string{"-clients", "0"}, "-clients"},
		{[]string{"-clients", "5", "-senders", "6"}, "-senders"},
		{[]string{"-rate", "0"}, "-rate"},
		{[]string{"-rate", "1e9", "-senders", "1"}, "add senders"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-protocol", "xml"}, "-protocol"},
		{[]string{"-protocol", "rooms", "-room", "no spaces"}, "-room"},
		{[]string{"-protocol", "rooms", "-rooms", "0"}, "-rooms must be at least 1"},
		{[]string{"-rooms", "2"}, "-rooms needs -protocol rooms"},
		{[]string{"-protocol", "rooms", "-clients", "4", "-senders", "1", "-rooms", "5"}, "-rooms must be at most -clients"},
		// The last room's name, with "-99" after it, is too long.
		{[]string{"-protocol", "rooms", "-rooms", "100", "-room", strings.Repeat("r", 62)}, `-room: "` + strings.Repeat("r", 62) + `-99"`},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want an error about %q", tc.args, err, tc.want)
		}
	}
	// -senders 0 needs no rate: it only holds connections.
	if _, err := parseConfig([]string{"-senders", "0", "-rate", "0"}, io.Discard); err != nil {
		t.Errorf("-senders 0 -rate 0: %v", err)
	}
	// The longest room name that fits, and the default of one room with the text protocol.
	if cfg, err := parseConfig([]string{"-protocol", "rooms", "-rooms", "100", "-room", strings.Repeat("r", 61)}, io.Discard); err != nil || cfg.roomName(99) != strings.Repeat("r", 61)+"-99" {
		t.Errorf("-rooms 100 with a 61-letter -room: %v", err)
	}
	if cfg, err := parseConfig(nil, io.Discard); err != nil || cfg.rooms != 1 {
		t.Errorf("defaults: rooms %d, %v; want 1 room", cfg.rooms, err)
	}
}
