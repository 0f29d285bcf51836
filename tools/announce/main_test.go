package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// testRedis is miniredis, or the Redis that REDIS_TEST_URL names (a cluster node too).
func testRedis(t *testing.T) string {
	if url := os.Getenv("REDIS_TEST_URL"); url != "" {
		return url
	}
	return "redis://" + miniredis.RunT(t).Addr()
}

// subscribe listens on broadcast as an instance does, once Redis has confirmed it.
func subscribe(t *testing.T, url string) *redis.PubSub {
	t.Helper()
	opts, _ := redis.ParseURL(url)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{opts.Addr}})
	if info, _ := rdb.Info(context.Background(), "cluster").Result(); strings.Contains(info, "cluster_enabled:1") {
		rdb.Close()
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{opts.Addr}})
	}
	t.Cleanup(func() { rdb.Close() })
	ps := rdb.Subscribe(context.Background(), broadcastChannel)
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ps
}

func next(t *testing.T, ps *redis.PubSub) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Payload
}

func TestAnnounceReachesEverySubscriber(t *testing.T) {
	url := testRedis(t)
	a, b := subscribe(t, url), subscribe(t, url)
	var out, errOut bytes.Buffer
	code := run(url, []string{"break in 5 minutes"}, &out, &errOut)
	if said := out.String(); code != 0 || !strings.HasPrefix(said, "announced to 2 instance(s) at Redis ") || !strings.HasSuffix(said, ": break in 5 minutes\n") {
		t.Fatalf("announce exited with %d, saying %q %q", code, out.String(), errOut.String())
	}
	for _, ps := range []*redis.PubSub{a, b} {
		if got := next(t, ps); got != "break in 5 minutes" {
			t.Errorf("a subscriber got %q", got)
		}
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	if code := run("redis://"+closed, []string{"anyone?"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "connection refused") {
		t.Errorf("announce with no Redis exited with %d, saying %q; want 1 and why", code, errOut.String())
	}
	for _, args := range [][]string{nil, {"two", "words"}} {
		errOut.Reset()
		if code := run(url, args, &out, &errOut); code != 2 || errOut.String() != usage+"\n" {
			t.Errorf("announce %q exited with %d, saying %q; want 2 and the usage", args, code, errOut.String())
		}
	}
}

// announce refuses, before it publishes anything, a text that the instances
// would drop: invalid UTF-8, blank, or too long. -h and --help print the
// usage and publish nothing either.
func TestAnnounceRefusesWhatNobodyWouldGet(t *testing.T) {
	url := testRedis(t)
	ps := subscribe(t, url)
	for _, tc := range []struct{ text, why string }{
		{"bad\xff", "announce: text must be UTF-8"},
		{" \t\n", "announce: empty text"},
		{strings.Repeat("é", maxTextLength+1), fmt.Sprintf("announce: text longer than %d characters", maxTextLength)},
	} {
		var out, errOut bytes.Buffer
		code := run(url, []string{tc.text}, &out, &errOut)
		if want := tc.why + "\n" + usage + "\n"; code != 2 || out.Len() > 0 || errOut.String() != want {
			t.Errorf("announce %q exited with %d, saying %q %q; want 2 and %q", tc.text, code, out.String(), errOut.String(), want)
		}
	}
	for _, help := range []string{"-h", "--help"} {
		var out, errOut bytes.Buffer
		code := run(url, []string{help}, &out, &errOut)
		if code != 0 || !strings.HasPrefix(out.String(), usage+"\n") || errOut.Len() > 0 {
			t.Errorf("announce %s exited with %d, saying %q %q; want 0 and the usage on stdout", help, code, out.String(), errOut.String())
		}
	}
	// The longest text that passes is sent; nothing before it was.
	longest := strings.Repeat("é", maxTextLength)
	if code := run(url, []string{longest}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("announce of %d characters exited with %d", maxTextLength, code)
	}
	if got := next(t, ps); got != longest {
		t.Errorf("the first announcement on %s is %.20q..., want the longest one", broadcastChannel, got)
	}
}
