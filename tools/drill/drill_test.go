package main

import (
	"context"
	"io"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// count's figures, on clients whose deliveries are made up.
func TestCountLostAndDuplicated(t *testing.T) {
	a, b, c := newClient("a", "r0", ""), newClient("b", "r0", ""), newClient("c", "r1", "")
	sentBy := map[string]*client{"m1": a, "m2": a, "m3": b, "m4": c, "m5": c}
	a.received = map[string]int{"m1": 1, "m2": 2, "m3": 1}
	b.received = map[string]int{"m1": 1}       // lost m2 and m3 (its own, echoed elsewhere)
	c.received = map[string]int{"m4": 1}       // m5 nobody got: unconfirmed, not lost
	a.reconnect = []time.Duration{time.Second} // reconnected once
	var rep report
	rep.count([]*client{a, b, c}, sentBy)
	rep.Closes, rep.Recovered, rep.Errors = nil, nil, nil
	want := report{Sent: 5, Accepted: 4, Unconfirmed: 1, Lost: 2, ClientsWithLoss: 1, MaxLostPerClient: 2,
		Duplicated: 1, Reconnected: 1, Reconnects: 1, ReconnectP50: time.Second, ReconnectP99: time.Second}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("count:\n got %+v\nwant %+v", rep, want)
	}
}

func TestBackoffDoublesWithJitter(t *testing.T) {
	for n, d := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, maxRetry, maxRetry} {
		for range 100 {
			if got := backoff(n); got < d/2 || got >= d {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, got, d/2, d)
			}
		}
	}
	if backoff(100) >= maxRetry {
		t.Errorf("backoff(100) = %v, want below maxRetry", backoff(100))
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-instances", "1"}, {"-clients", "0"}, {"-rooms", "10", "-clients", "5"}, {"-rate", "0"},
		{"-step", "no-such-folder"}, {"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-step", "../../step4-rooms"}, io.Discard); err != nil {
		t.Errorf("the default drill: %v", err)
	}
}

// A short drill on step 4 as it is: every client reconnects after its
// instance restarts, nothing arrives twice, and what is lost is counted.
func TestAShortDrill(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: the drill needs a real Redis")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cfg, err := parseFlags([]string{"-step", "../../step4-rooms", "-clients", "12", "-rooms", "3", "-rate", "30", "-hold", "1s", "-drain", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	rep, err := run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if rep.Reconnected != cfg.clients || len(rep.Restarts) != cfg.instances {
		t.Errorf("%d clients reconnected, %d restarts; want every client, every instance", rep.Reconnected, len(rep.Restarts))
	}
	if rep.Duplicated != 0 || rep.Accepted == 0 {
		t.Errorf("%d accepted, %d duplicated", rep.Accepted, rep.Duplicated)
	}
	if rep.Closes["1001 server shutting down"] < cfg.clients {
		t.Errorf("closes %v: want every client to hear 1001 at least once", rep.Closes)
	}
}
