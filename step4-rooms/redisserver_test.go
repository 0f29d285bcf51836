package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test's own.
type redisServer struct {
	addr   string
	log    *syncBuffer   // what it writes to its standard output
	direct *redis.Client // the test's own client, straight to it
}

// startRedisServer runs a redis-server of the test's own on a free loopback
// port, saving nothing, until the test ends. It is for what only a real
// Redis does to its clients (CLIENT KILL, output buffer limits), done where
// no other test sees it. Without redis-server on the PATH, the test is
// skipped.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("skipped: this test runs a redis-server of its own, and there is none on the PATH")
	}
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		out := &syncBuffer{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		if err := waitRedisReady(addr, exited); err == nil {
			direct := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { direct.Close() })
			return &redisServer{addr: addr, log: out, direct: direct}
		} else if attempt == 3 { // the port may have been taken meanwhile: try another
			t.Fatalf("redis-server on %s: %v\n%s", addr, err, out)
		}
	}
}

// waitRedisReady waits until the Redis at addr answers PING, or the process exits.
func waitRedisReady(addr string, exited chan error) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			return fmt.Errorf("exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribers is how many subscriber connections the server has now.
func (s *redisServer) subscribers(t *testing.T) int {
	t.Helper()
	list, err := s.direct.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(list, "\n")
}
