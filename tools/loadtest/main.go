// Command loadtest measures a chat server: it opens many WebSocket clients,
// has some of them send at a fixed total rate, and counts what every client
// receives, to report loss, duplicates, throughput and publish-to-delivery
// latency. From the repository root:
//
//	go run ./tools/loadtest -servers ws://localhost:3459/ws,ws://localhost:3460/ws \
//		-clients 1000 -senders 20 -rate 2000 -duration 10s
//
// -senders 0 only holds the connections open (for a server's memory per idle
// connection); -protocol rooms speaks step 4's JSON; -json prints the summary
// for scripts (see bench.sh). Progress goes to stderr, the summary to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes, for scripts.
const (
	exitOK    = 0 // the run completed (whatever it measured, loss included)
	exitSetup = 1 // the run could not start: a server down, refused, closed early
	exitUsage = 2 // bad flags
)

// mainExit runs the command with args and returns its exit code.
func mainExit(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	// Ctrl-C ends the run early but still prints what it measured so far.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := stderr
	if cfg.quiet {
		progress = io.Discard
	}
	s, err := execute(ctx, cfg, progress)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return exitSetup
	}
	if cfg.jsonOutput {
		if err := s.writeJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return exitSetup
		}
	} else {
		s.writeText(stdout)
	}
	return exitOK
}
