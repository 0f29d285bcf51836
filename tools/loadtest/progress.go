package main

import (
	"fmt"
	"time"
)

// progressEvery is how often a progress line is printed while a run goes.
const progressEvery = time.Second

// startProgress prints a progress line every progressEvery until the
// returned function is called (which waits for the printer to stop).
func (r *run) startProgress() (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		var lastSent, lastReceived int64
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				secs := now.Sub(last).Seconds()
				last = now
				switch phase := r.phase.Load(); phase {
				case phaseConnecting:
					fmt.Fprintf(r.log, "loadtest: connecting: %d of %d connected\n", r.connected.Load(), r.cfg.clients)
				case phaseProbing:
					fmt.Fprintf(r.log, "loadtest: waiting for a first message to reach every client: %d of %d have it\n", r.probed.Load(), r.cfg.clients)
				case phaseHolding:
					fmt.Fprintf(r.log, "loadtest: holding %d connections, %d disconnected\n", r.cfg.clients, r.lostCount())
				case phaseSending, phaseDraining:
					sent, received := r.sent.Load(), r.receivedSoFar()
					fmt.Fprintf(r.log, "loadtest: %3.0fs %s sent %d (%.0f/s), received %d (%.0f/s), disconnected %d\n",
						time.Since(r.sendStart).Seconds(), phaseName(phase), sent, float64(sent-lastSent)/secs,
						received, float64(received-lastReceived)/secs, r.lostCount())
					lastSent, lastReceived = sent, received
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func phaseName(phase int32) string {
	if phase == phaseDraining {
		return "draining:"
	}
	return "sending: "
}

// receivedSoFar adds up the clients' counts. Only call it once the setup
// is over: r.clients is complete then.
func (r *run) receivedSoFar() int64 {
	var n int64
	for _, c := range r.clients {
		n += c.received.Load()
	}
	return n
}

func (r *run) lostCount() int {
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	return r.lost
}
