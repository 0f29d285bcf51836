package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The two wire protocols the workshop's servers speak.
const (
	// protocolText is steps 2 and 3 (and the Node.js baseline): a message is
	// the text of a frame, and a server frame may carry several, one per line:
	// the text itself (step 2), or a JSON object with it as "text" (step 3).
	protocolText = "text"
	// protocolRooms is step 4: JSON objects, one per line, in named rooms.
	protocolRooms = "rooms"
)

// roomPattern is step 4's rule for room names; checking it here turns a typo
// into a usage error instead of a run that fails at the join.
var roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// config is everything a run needs, parsed from the command line.
type config struct {
	servers        []string      // WebSocket URLs; clients are spread over them round-robin
	clients        int           // connections to open
	senders        int           // how many of the clients send; 0 = hold idle connections
	rate           float64       // messages per second, all senders together
	duration       time.Duration // how long the senders send (or idle connections are held)
	drain          time.Duration // how long to wait for stragglers after sending stops
	connectTimeout time.Duration // bound for the whole setup: dial, join, first message through
	protocol       string        // protocolText or protocolRooms
	room           string        // the room every client joins, or the rooms' name before "-<n>" (rooms protocol)
	rooms          int           // how many rooms the clients are spread over (rooms protocol; see rooms.go)
	jsonOutput     bool          // print the summary as one JSON object
	quiet          bool          // no progress lines on stderr
}

const usageHead = `usage: loadtest [flags]

Opens -clients WebSocket connections spread over -servers; -senders of them
send -rate messages per second in total for -duration, and every client counts
what it receives, so that the summary shows loss, duplicates, throughput and
publish-to-delivery latency. With -senders 0 it only holds the connections
open for -duration (to measure a server's memory per idle connection).

Flags:
`

// parseConfig reads the flags in args. Usage errors are returned (and the
// usage text written to errOut); -h returns flag.ErrHelp.
func parseConfig(args []string, errOut io.Writer) (config, error) {
	var cfg config
	var servers string
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&servers, "servers", "ws://localhost:3459/ws", "comma-separated WebSocket `URLs`; clients are spread over them round-robin")
	fs.IntVar(&cfg.clients, "clients", 100, "number of WebSocket connections")
	fs.IntVar(&cfg.senders, "senders", 10, "how many of the clients send messages (0: hold idle connections for -duration)")
	fs.Float64Var(&cfg.rate, "rate", 1000, "messages per second, all senders together")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send (or, with -senders 0, to hold the connections)")
	fs.DurationVar(&cfg.drain, "drain", 2*time.Second, "after sending, the longest wait for deliveries still on their way")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 30*time.Second, "bound for connecting every client (and, with senders, for a first message to reach them all)")
	fs.StringVar(&cfg.protocol, "protocol", protocolText, "wire protocol: text (steps 2 and 3) or rooms (step 4, JSON)")
	fs.StringVar(&cfg.room, "room", "load", "room every client joins (-protocol rooms); with -rooms above 1, rooms are named `name`-0, name-1, ...")
	fs.IntVar(&cfg.rooms, "rooms", 1, "spread the clients over this many rooms (-protocol rooms): a message goes to the members of its sender's room")
	fs.BoolVar(&cfg.jsonOutput, "json", false, "print the summary as one JSON object")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, s := range strings.Split(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.servers = append(cfg.servers, s)
		}
	}
	if err := cfg.validate(); err != nil {
		return cfg, usageError(fs, err)
	}
	return cfg, nil
}

// usageError prints err and the usage, the way the flag package does for
// its own errors, so that every usage error looks the same.
func usageError(fs *flag.FlagSet, err error) error {
	fmt.Fprintln(fs.Output(), err)
	fs.Usage()
	return err
}

func (c *config) validate() error {
	if len(c.servers) == 0 {
		return errors.New("-servers: no server given")
	}
	for _, s := range c.servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return fmt.Errorf("-servers: %q is not a ws:// or wss:// URL", s)
		}
	}
	switch {
	case c.clients < 1:
		return errors.New("-clients must be at least 1")
	case c.senders < 0 || c.senders > c.clients:
		return fmt.Errorf("-senders must be from 0 to -clients (%d)", c.clients)
	case c.senders > 0 && !(c.rate > 0):
		return errors.New("-rate must be above 0")
	case c.duration <= 0:
		return errors.New("-duration must be above 0")
	case c.drain < 0:
		return errors.New("-drain must not be negative")
	case c.connectTimeout <= 0:
		return errors.New("-connect-timeout must be above 0")
	case c.protocol != protocolText && c.protocol != protocolRooms:
		return fmt.Errorf("-protocol must be %q or %q", protocolText, protocolRooms)
	case c.rooms < 1:
		return errors.New("-rooms must be at least 1")
	case c.rooms > 1 && c.protocol != protocolRooms:
		return errors.New("-rooms needs -protocol rooms (steps 2 and 3 have one chat)")
	case c.rooms > c.clients:
		return fmt.Errorf("-rooms must be at most -clients (%d): every room needs a member", c.clients)
	case c.protocol == protocolRooms && !roomPattern.MatchString(c.roomName(c.rooms-1)):
		// The longest name is the last room's.
		return fmt.Errorf("-room: %q must be 1 to 64 letters, digits, '_' or '-'", c.roomName(c.rooms-1))
	}
	if c.senders > 0 {
		// A sender's interval below a microsecond is beyond what a timer
		// can pace; it also means a rate no server here could carry.
		if perSender := c.rate / float64(c.senders); perSender > maxRatePerSender {
			return fmt.Errorf("-rate %g is %g messages/s per sender, above the %d a sender can pace: add senders", c.rate, perSender, maxRatePerSender)
		}
	}
	return nil
}

// interval is how often each sender sends, so that all of them together
// send rate messages per second.
func (c *config) interval() time.Duration {
	return time.Duration(float64(time.Second) * float64(c.senders) / c.rate)
}
