package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// behindTarget is how far below -rate the senders may fall before the
// summary warns: a ticker loses the odd tick, but more than 2% means the
// load generator (or a server that stopped reading) held the senders back.
const behindTarget = 0.98

// summary is the result of a run. The JSON names are for scripts: keep them.
type summary struct {
	Protocol          string         `json:"protocol"`
	Servers           []string       `json:"servers"`
	Clients           int            `json:"clients"`
	Rooms             int            `json:"rooms"` // 1 with the text protocol
	Senders           int            `json:"senders"`
	TargetRate        float64        `json:"target_rate"` // messages/s asked for
	DurationSec       float64        `json:"duration_s"`
	Sent              int64          `json:"sent"`
	SendRate          float64        `json:"send_rate"` // messages/s sent
	Expected          int64          `json:"expected"`  // deliveries: each message × the members of its room
	Received          int64          `json:"received"`  // distinct deliveries
	Lost              int64          `json:"lost"`      // expected − received
	LossPercent       float64        `json:"loss_percent"`
	Duplicates        int64          `json:"duplicates"`
	Other             int64          `json:"other_messages"` // lines that were not this run's messages
	WrongRoom         int64          `json:"wrong_room"`     // this run's messages delivered to a member of another room
	Frames            int64          `json:"frames"`         // WebSocket frames received, all clients
	MessagesPerFrame  float64        `json:"messages_per_frame"`
	DeliveriesPerSec  float64        `json:"deliveries_per_s"`
	LatencyP50Ms      float64        `json:"latency_p50_ms"`
	LatencyP99Ms      float64        `json:"latency_p99_ms"`
	LatencyMaxMs      float64        `json:"latency_max_ms"`
	Disconnected      int            `json:"disconnected"` // clients that lost their connection mid-run
	DisconnectReasons map[string]int `json:"disconnect_reasons,omitempty"`
	Interrupted       bool           `json:"interrupted,omitempty"`
	ElapsedSec        float64        `json:"elapsed_s"` // the whole run, setup and goodbye included

	sendTime time.Duration // how long the senders actually sent
}

// finish fills in the totals from every client. Call it after hangUp:
// the readers have stopped, so their counts are final.
func (s *summary) finish(r *run, elapsed time.Duration) {
	cfg := r.cfg
	s.Protocol, s.Servers = cfg.protocol, cfg.servers
	s.Clients, s.Senders, s.Rooms = cfg.clients, cfg.senders, cfg.rooms
	s.DurationSec = cfg.duration.Seconds()
	s.ElapsedSec = elapsed.Seconds()
	if cfg.senders > 0 {
		s.TargetRate = cfg.rate
	}

	var latency histogram
	var lastAt int64
	for _, c := range r.clients {
		s.Received += c.received.Load()
		s.Duplicates += c.dups.Load()
		s.Other += c.notOurs
		s.WrongRoom += c.wrongRoom
		s.Frames += c.frames
		if c.latency != nil {
			latency.merge(c.latency)
		}
		lastAt = max(lastAt, c.lastAt)
	}
	// A message is for the members of its room (all clients when there
	// is one room), the sender included.
	for room := range r.sentTo {
		s.Expected += r.sentTo[room].Load() * r.roomSizes[room]
	}
	// More than expected would be a message whose write failed yet still
	// went out; it is not loss.
	s.Lost = max(s.Expected-s.Received, 0)
	if s.Expected > 0 {
		s.LossPercent = 100 * float64(s.Lost) / float64(s.Expected)
	}
	if s.Frames > 0 {
		// How much the servers batch: 1 means a frame (and, for the
		// server, a write) per delivery.
		s.MessagesPerFrame = float64(s.Received+s.Duplicates) / float64(s.Frames)
	}
	if s.sendTime > 0 {
		s.SendRate = float64(s.Sent) / s.sendTime.Seconds()
	}
	// Throughput is over the time deliveries took: from the first send to
	// the last delivery, so that a server that lags is not flattered.
	if span := time.Duration(lastAt - r.sendStart.UnixNano()); s.Received > 0 && span > 0 {
		s.DeliveriesPerSec = float64(s.Received) / span.Seconds()
	}
	s.LatencyP50Ms = ms(latency.percentile(50))
	s.LatencyP99Ms = ms(latency.percentile(99))
	s.LatencyMaxMs = ms(time.Duration(latency.max))

	r.lostMu.Lock()
	s.Disconnected = r.lost
	if len(r.reasons) > 0 {
		s.DisconnectReasons = maps.Clone(r.reasons)
	}
	r.lostMu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeJSON prints s as one JSON object on one line.
func (s *summary) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(s)
}

// writeText prints s for people.
func (s *summary) writeText(w io.Writer) {
	servers := "server"
	if len(s.Servers) > 1 {
		servers = fmt.Sprintf("%d servers", len(s.Servers))
	}
	inRooms := ""
	if s.Rooms > 1 {
		inRooms = fmt.Sprintf(" in %d rooms", s.Rooms)
	}
	fmt.Fprintf(w, "loadtest     %s protocol, %d clients%s on %s: %s\n",
		s.Protocol, s.Clients, inRooms, servers, strings.Join(s.Servers, ", "))
	if s.Senders == 0 {
		fmt.Fprintf(w, "idle         held %d connections for %s\n", s.Clients, seconds(s.DurationSec))
	} else {
		fmt.Fprintf(w, "sent         %d messages from %d senders in %s: %.0f/s (target %g/s)\n",
			s.Sent, s.Senders, seconds(s.sendTime.Seconds()), s.SendRate, s.TargetRate)
		fmt.Fprintf(w, "deliveries   %d expected, %d received, %d lost (%.3f%%), %d duplicates\n",
			s.Expected, s.Received, s.Lost, s.LossPercent, s.Duplicates)
		fmt.Fprintf(w, "throughput   %.0f deliveries/s in %d frames (%.2f messages per frame)\n",
			s.DeliveriesPerSec, s.Frames, s.MessagesPerFrame)
		fmt.Fprintf(w, "latency      p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs)
	}
	fmt.Fprintf(w, "connections  %d disconnected during the run\n", s.Disconnected)
	for _, reason := range slices.Sorted(maps.Keys(s.DisconnectReasons)) {
		fmt.Fprintf(w, "             %d × %s\n", s.DisconnectReasons[reason], reason)
	}
	if s.WrongRoom > 0 {
		fmt.Fprintf(w, "note         %d deliveries reached a member of another room than the message's (not counted as received)\n", s.WrongRoom)
	}
	if s.Other > 0 {
		fmt.Fprintf(w, "note         %d received lines were not this run's messages (ignored)\n", s.Other)
	}
	if s.Senders > 0 && !s.Interrupted && s.SendRate < behindTarget*s.TargetRate {
		fmt.Fprintf(w, "note         the senders fell behind the target rate: the load generator (or a server not reading) held them back\n")
	}
	if s.Interrupted {
		fmt.Fprintf(w, "note         interrupted: the counts are partial\n")
	}
	fmt.Fprintf(w, "elapsed      %s in all\n", seconds(s.ElapsedSec))
}

func seconds(s float64) string { return fmt.Sprintf("%.1fs", s) }
