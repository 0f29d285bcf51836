// Command announce sends an announcement to every tab on every step-4
// instance: it publishes TEXT on Redis's "broadcast" channel, to which every
// instance subscribes. It is the instructor's, not the chat's: it stands
// beside the steps as tools/redis-cli does. From the repository root:
//
//	go run ./tools/announce "break in 5 minutes"
//
// It refuses, before publishing, a text that the instances would drop: as
// step4-rooms's checkText, it must be UTF-8, not blank, and at most 500
// characters. REDIS_URL names the Redis (default localhost:6379, where the
// embedded one of step 4 runs); on a Redis Cluster, it publishes on the
// master where go-redis puts every instance's subscription to "broadcast",
// so that the count it prints is every instance's.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

const (
	broadcastChannel = "broadcast"
	maxTextLength    = 500 // characters, as step4-rooms's
	usage            = `usage: go run ./tools/announce "TEXT"`
)

func main() {
	logging.Disable() // go-redis's own dial errors; ours says what happened
	os.Exit(run(os.Getenv("REDIS_URL"), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status.
func run(redisURL string, args []string, out, errOut io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintf(out, "%s\nsends TEXT (UTF-8, not blank, at most %d characters) to every tab on every step-4 instance,\n"+
			"through the Redis that REDIS_URL names (default localhost:6379)\n", usage, maxTextLength)
		return 0
	}
	if len(args) != 1 {
		fmt.Fprintln(errOut, usage)
		return 2
	}
	if err := checkText(args[0]); err != nil {
		fmt.Fprintf(errOut, "announce: %v\n%s\n", err, usage)
		return 2
	}
	addr, n, err := publish(cmp.Or(redisURL, "redis://localhost:6379"), args[0])
	if err != nil {
		fmt.Fprintf(errOut, "announce: %v (is an instance running, or REDIS_URL set?)\n", err)
		return 1
	}
	fmt.Fprintf(out, "announced to %d instance(s) at Redis %s: %s\n", n, addr, args[0])
	return 0
}

// checkText says what the instances would find wrong with text, if anything.
func checkText(text string) error {
	switch {
	case !utf8.ValidString(text):
		return errors.New("text must be UTF-8")
	case strings.TrimSpace(text) == "":
		return errors.New("empty text")
	case utf8.RuneCountInString(text) > maxTextLength:
		return fmt.Errorf("text longer than %d characters", maxTextLength)
	}
	return nil
}

// publish sends text on the broadcast channel of the Redis at redisURL and
// returns its address and how many subscribers (instances) received it. It
// sends the PUBLISH once: a lost answer is no proof that it was not carried out.
func publish(redisURL, text string) (addr string, n int64, err error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", 0, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.MaxRetries, opts.DialerRetries, opts.DialTimeout = -1, 1, time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	// On a cluster, PUBLISH counts the subscribers of the node it reaches only.
	if info, err := rdb.Info(ctx, "cluster").Result(); err == nil && strings.Contains(info, "cluster_enabled:1") {
		cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{opts.Addr}, Username: opts.Username,
			Password: opts.Password, TLSConfig: opts.TLSConfig, MaxRedirects: -1, MaxRetries: -1})
		defer cluster.Close()
		master, err := cluster.MasterForKey(ctx, broadcastChannel)
		if err != nil {
			return "", 0, err
		}
		n, err = master.Publish(ctx, broadcastChannel, text).Result()
		return "Cluster " + opts.Addr, n, err
	}
	n, err = rdb.Publish(ctx, broadcastChannel, text).Result()
	return opts.Addr, n, err
}
