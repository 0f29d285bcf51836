// Command redis-cli is a small stand-in for Redis's own redis-cli, for a
// workshop laptop that has none: it sends one command to the Redis that
// REDIS_URL names, or to the one on localhost:6379 (the embedded Redis
// that a step-3 or step-4 instance starts there included), and prints the
// answer as redis-cli does. SUBSCRIBE prints what arrives until Ctrl-C. From
// the repository root:
//
//	go run ./tools/redis-cli PUBLISH chat "hello from redis-cli"
//	go run ./tools/redis-cli PUBSUB NUMSUB chat
//	go run ./tools/redis-cli SUBSCRIBE chat
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

func main() {
	logging.Disable() // it logs every failed dial; the error says it once
	if err := run(context.Background(), os.Getenv("REDIS_URL"), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "redis-cli:", err)
		os.Exit(1)
	}
}

// run sends the command args to the Redis at redisURL (default
// redis://localhost:6379) and writes the answer to out.
func run(ctx context.Context, redisURL string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: go run ./tools/redis-cli COMMAND [ARG...], e.g. PUBSUB NUMSUB chat")
	}
	opts, err := redis.ParseURL(cmp.Or(redisURL, "redis://localhost:6379"))
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.MaxRetries, opts.DialerRetries = -1, 1 // sent once, as redis-cli does
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	if strings.EqualFold(args[0], "subscribe") {
		ps := rdb.Subscribe(ctx, args[1:]...)
		defer ps.Close()
		go func() { <-ctx.Done(); ps.Close() }() // tests end it so; people, with Ctrl-C
		fmt.Fprintln(out, "Reading messages... (press Ctrl-C to quit)")
		for {
			msg, err := ps.Receive(ctx)
			switch msg := msg.(type) {
			case *redis.Subscription:
				fmt.Fprintln(out, format([]any{msg.Kind, msg.Channel, int64(msg.Count)}))
			case *redis.Message:
				fmt.Fprintln(out, format([]any{"message", msg.Channel, msg.Payload}))
			}
			if err != nil {
				return noRedis(ctx, opts.Addr, err)
			}
		}
	}
	cmd := make([]any, len(args))
	for i, arg := range args {
		cmd[i] = arg
	}
	res, err := rdb.Do(ctx, cmd...).Result()
	if err != nil && err != redis.Nil {
		return noRedis(ctx, opts.Addr, err)
	}
	fmt.Fprintln(out, format(res))
	return nil
}

// format writes a reply as redis-cli does: (integer) 2, "text", (nil), and
// an array as numbered lines, 1) 2) ...
func format(reply any) string {
	switch v := reply.(type) {
	case nil:
		return "(nil)"
	case int64:
		return fmt.Sprintf("(integer) %d", v)
	case string:
		return strconv.Quote(v)
	case []any:
		if len(v) == 0 {
			return "(empty array)"
		}
		lines := make([]string, len(v))
		for i, e := range v {
			lines[i] = fmt.Sprintf("%d) %s", i+1, strings.ReplaceAll(format(e), "\n", "\n   "))
		}
		return strings.Join(lines, "\n")
	}
	return fmt.Sprint(reply)
}

// noRedis says why a command failed: Ctrl-C is no failure; a Redis that
// is not there says so in words a student can act on.
func noRedis(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("no Redis at %s: start a step-3 or step-4 instance first (it starts an embedded one), or set REDIS_URL", addr)
	}
	return fmt.Errorf("Redis at %s: %v", addr, err)
}
