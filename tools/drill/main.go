// Command drill is a rolling restart under load: it runs several step-4
// instances behind the workshop's load balancer (tools/lb) on a real Redis,
// connects clients through the balancer into rooms, has them chat, and
// stops (SIGTERM) and starts each instance in turn while messages flow. The
// clients behave as the step-4 page does: when their connection closes,
// they reconnect with backoff and jitter and join their rooms again, saying
// which message they saw last ("since"). It prints how many clients
// reconnected, how long that took, and per client the messages lost
// (accepted, yet never delivered to it) and duplicated.
//
// From the repository root, with redis-server installed:
//
//	go run ./tools/drill
//	go run ./tools/drill -step /tmp/copy/step4-rooms   # a copy with a solution applied
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type config struct {
	step      string        // the step-4 folder to build and run
	instances int           // how many instances behind the balancer
	clients   int           // clients, spread over the rooms; every one sends
	rooms     int           // rooms
	rate      float64       // messages per second, all clients together
	hold      time.Duration // before the first restart, and after each instance is back
	drain     time.Duration // after the last restart, the longest wait for messages on their way
	redisURL  string        // a Redis to use; empty: start a redis-server of our own
	strict    bool          // exit 1 when a message was lost or duplicated
	json      bool          // the report as one JSON object
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("drill: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		os.Exit(2)
	}
	if errUnsupported != nil {
		fmt.Fprintln(os.Stderr, "drill:", errUnsupported)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	if cfg.json {
		json.NewEncoder(os.Stdout).Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if cfg.strict && (rep.Lost > 0 || rep.Duplicated > 0) {
		os.Exit(1)
	}
}

func parseFlags(args []string, errOut io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.step, "step", "step4-rooms", "the step-4 folder to build and run")
	fs.IntVar(&cfg.instances, "instances", 3, "instances behind the balancer")
	fs.IntVar(&cfg.clients, "clients", 60, "clients; every one sends")
	fs.IntVar(&cfg.rooms, "rooms", 6, "rooms; client i is in room i % rooms")
	fs.Float64Var(&cfg.rate, "rate", 50, "messages per second, all clients together")
	fs.DurationVar(&cfg.hold, "hold", 3*time.Second, "before the first restart, and after each instance is back")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "after the last restart, the longest wait for messages still on their way")
	fs.StringVar(&cfg.redisURL, "redis", "", "a Redis to use, redis://host:port (default: start a redis-server of our own)")
	fs.BoolVar(&cfg.strict, "strict", false, "exit 1 when a message was lost or duplicated")
	fs.BoolVar(&cfg.json, "json", false, "print the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q (flags only; -h lists them)", fs.Arg(0))
	case cfg.instances < 2:
		return cfg, errors.New("-instances must be at least 2: clients move to another instance")
	case cfg.clients < 1 || cfg.rooms < 1 || cfg.rooms > cfg.clients:
		return cfg, errors.New("-clients and -rooms must be at least 1, and -rooms at most -clients")
	case cfg.rate <= 0 || cfg.hold <= 0 || cfg.drain <= 0:
		return cfg, errors.New("-rate, -hold and -drain must be positive")
	}
	abs, err := filepath.Abs(cfg.step)
	if err != nil {
		return cfg, err
	}
	if _, err := os.Stat(filepath.Join(abs, "main.go")); err != nil {
		return cfg, fmt.Errorf("-step %s: no main.go there", cfg.step)
	}
	cfg.step = abs
	return cfg, nil
}
