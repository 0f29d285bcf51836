package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// report is what a drill found.
type report struct {
	Step             string          `json:"step"`
	Instances        int             `json:"instances"`
	Clients          int             `json:"clients"`
	Rooms            int             `json:"rooms"`
	Rate             float64         `json:"rate"`
	Sent             int             `json:"sent"`
	Accepted         int             `json:"accepted"`    // echoed to its sender, or received by anyone
	Unconfirmed      int             `json:"unconfirmed"` // neither: the sender's connection closed first
	Reconnected      int             `json:"reconnected"` // clients that reconnected at least once
	Reconnects       int             `json:"reconnects"`
	ReconnectP50     time.Duration   `json:"reconnect_p50_ns"`
	ReconnectP99     time.Duration   `json:"reconnect_p99_ns"`
	Lost             int             `json:"lost"` // accepted messages of its room a client never got, all clients
	ClientsWithLoss  int             `json:"clients_with_loss"`
	MaxLostPerClient int             `json:"max_lost_per_client"`
	Duplicated       int             `json:"duplicated"` // deliveries beyond the first, all clients
	Closes           map[string]int  `json:"closes"`     // why connections closed
	Recovered        map[string]int  `json:"recovered"`  // "recovered" in rejoins' "joined"
	Errors           map[string]int  `json:"errors"`     // error events
	Restarts         []restartReport `json:"restarts"`
}

type restartReport struct {
	Instance string        `json:"instance"`
	Exit     time.Duration `json:"exit_ns"`    // SIGTERM to exit
	Down     time.Duration `json:"down_ns"`    // SIGTERM to answering again
	Elapsed  time.Duration `json:"elapsed_ns"` // since the drill began
}

// run is the whole drill: start everything, connect, chat, restart each
// instance in turn, drain, count.
func run(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	say := func(format string, args ...any) { fmt.Fprintf(progress, "drill: "+format+"\n", args...) }
	tmp, err := os.MkdirTemp("", "drill-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	say("building %s and tools/lb", cfg.step)
	stepBin, lbBin, err := build(ctx, tmp, cfg.step)
	if err != nil {
		return nil, err
	}
	redisURL := cfg.redisURL
	if redisURL == "" {
		redis, url, err := startRedis()
		if err != nil {
			return nil, err
		}
		defer redis.stop()
		redisURL = url
	}

	ports := make([]string, cfg.instances)
	instances := make([]*process, cfg.instances)
	startInstance := func(i int) error {
		p, err := start("instance :"+ports[i], stepBin, []string{"REDIS_URL=" + redisURL}, ports[i])
		if err == nil {
			err = p.waitHTTP("http://localhost:" + ports[i] + "/")
		}
		instances[i] = p
		return err
	}
	defer func() {
		for _, p := range instances {
			if p != nil {
				p.stop()
			}
		}
	}()
	for i := range ports {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = strconv.Itoa(port)
		if err := startInstance(i); err != nil {
			return nil, err
		}
	}
	lbPort, err := freePort()
	if err != nil {
		return nil, err
	}
	lb, err := start("tools/lb", lbBin, nil, append([]string{strconv.Itoa(lbPort)}, ports...)...)
	if err != nil {
		return nil, err
	}
	defer lb.stop()
	if err := lb.waitHTTP(fmt.Sprintf("http://localhost:%d/", lbPort)); err != nil {
		return nil, err
	}
	say("%d instances (ports %v) behind tools/lb on :%d, Redis at %s", cfg.instances, ports, lbPort, redisURL)

	// Connect every client and wait until each is in its room.
	stop := make(chan struct{})
	var running sync.WaitGroup
	defer func() { close(stop); running.Wait() }()
	clients := make([]*client, cfg.clients)
	var joined sync.WaitGroup
	joined.Add(cfg.clients)
	url := fmt.Sprintf("ws://localhost:%d/ws", lbPort)
	for i := range clients {
		clients[i] = newClient(fmt.Sprint("d", i), fmt.Sprint("r", i%cfg.rooms), url)
		running.Add(1)
		go func() { defer running.Done(); clients[i].run(stop, sync.OnceFunc(joined.Done)) }()
	}
	if err := waitGroup(ctx, &joined, startTimeout); err != nil {
		return nil, fmt.Errorf("clients joining their rooms: %v", err)
	}
	say("%d clients in %d rooms; sending %.0f messages/s", cfg.clients, cfg.rooms, cfg.rate)

	// Send until the last instance is back and has held for cfg.hold.
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	sentBy := make(map[string]*client)
	var sentMu sync.Mutex
	sending := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-sending:
				return
			case <-tick.C:
			}
			c := clients[n%len(clients)]
			text := fmt.Sprintf("drill %s %s %d", run, c.name, n)
			if c.say(text) {
				sentMu.Lock()
				sentBy[text] = c
				sentMu.Unlock()
			}
		}
	}()

	rep := &report{Step: cfg.step, Instances: cfg.instances, Clients: cfg.clients, Rooms: cfg.rooms, Rate: cfg.rate}
	begin := time.Now()
	if err := sleep(ctx, cfg.hold); err != nil {
		return nil, err
	}
	for i := range instances {
		say("stopping instance :%s (SIGTERM)", ports[i])
		r := restartReport{Instance: ":" + ports[i]}
		down := time.Now()
		exit, err := instances[i].stop()
		if err != nil {
			return nil, err
		}
		if err := startInstance(i); err != nil {
			return nil, err
		}
		r.Exit, r.Down, r.Elapsed = exit, time.Since(down), time.Since(begin)
		rep.Restarts = append(rep.Restarts, r)
		say("instance :%s exited in %v, answers again after %v", ports[i], exit.Round(time.Millisecond), r.Down.Round(time.Millisecond))
		if err := sleep(ctx, cfg.hold); err != nil {
			return nil, err
		}
	}
	close(sending)
	<-sent

	// Drain: until every accepted message has reached every member of its
	// room, or nothing new arrives for cfg.drain.
	say("draining (at most %v)", cfg.drain)
	deadline := time.Now().Add(cfg.drain)
	for time.Now().Before(deadline) {
		rep.count(clients, sentBy)
		if rep.Lost == 0 {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	rep.count(clients, sentBy)
	return rep, nil
}

// count fills in the report from what the clients received.
func (rep *report) count(clients []*client, sentBy map[string]*client) {
	members := make(map[string][]*client) // room -> clients
	got := make(map[string]bool)          // text -> received by anyone
	for _, c := range clients {
		c.mu.Lock()
		members[c.room] = append(members[c.room], c)
		for text := range c.received {
			got[text] = true
		}
	}
	defer func() {
		for _, c := range clients {
			c.mu.Unlock()
		}
	}()

	*rep = report{Step: rep.Step, Instances: rep.Instances, Clients: rep.Clients, Rooms: rep.Rooms, Rate: rep.Rate,
		Restarts: rep.Restarts, Closes: map[string]int{}, Recovered: map[string]int{}, Errors: map[string]int{}}
	lost := make(map[*client]int)
	for text, sender := range sentBy {
		rep.Sent++
		if !got[text] {
			rep.Unconfirmed++
			continue
		}
		rep.Accepted++
		for _, c := range members[sender.room] {
			if c.received[text] == 0 {
				lost[c]++
			}
		}
	}
	var reconnects []time.Duration
	for _, c := range clients {
		rep.Lost += lost[c]
		if lost[c] > 0 {
			rep.ClientsWithLoss++
		}
		rep.MaxLostPerClient = max(rep.MaxLostPerClient, lost[c])
		for _, n := range c.received {
			rep.Duplicated += n - 1
		}
		if len(c.reconnect) > 0 {
			rep.Reconnected++
		}
		reconnects = append(reconnects, c.reconnect...)
		for k, v := range c.closes {
			rep.Closes[k] += v
		}
		for k, v := range c.recovered {
			rep.Recovered[k] += v
		}
		for _, e := range c.errors {
			rep.Errors[e]++
		}
	}
	rep.Reconnects = len(reconnects)
	rep.ReconnectP50, rep.ReconnectP99 = percentile(reconnects, 50), percentile(reconnects, 99)
}

// percentile is the p-th percentile of ds (nearest rank), or 0.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)*p+99)/100-1]
}

func (rep *report) print(w io.Writer) {
	fmt.Fprintf(w, "drill: %d instances, each stopped (SIGTERM) and started again in turn; %d clients in %d rooms, %.0f messages/s\n",
		rep.Instances, rep.Clients, rep.Rooms, rep.Rate)
	fmt.Fprintf(w, "sent:        %d messages; %d accepted, %d unconfirmed (sender cut off before its echo, and nobody got them)\n",
		rep.Sent, rep.Accepted, rep.Unconfirmed)
	fmt.Fprintf(w, "reconnected: %d clients, %d times; reconnect to rejoined: p50 %v, p99 %v\n",
		rep.Reconnected, rep.Reconnects, rep.ReconnectP50.Round(time.Millisecond), rep.ReconnectP99.Round(time.Millisecond))
	fmt.Fprintf(w, "lost:        %d deliveries, at %d clients (at most %d for one)\n", rep.Lost, rep.ClientsWithLoss, rep.MaxLostPerClient)
	fmt.Fprintf(w, "duplicated:  %d deliveries\n", rep.Duplicated)
	fmt.Fprintf(w, "rejoins:     recovered %v; closes %v\n", rep.Recovered, rep.Closes)
	if len(rep.Errors) > 0 {
		fmt.Fprintf(w, "errors:      %v\n", rep.Errors)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup, d time.Duration) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return fmt.Errorf("not done within %v", d)
	}
}
