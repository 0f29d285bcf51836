package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test's own.
type redisServer struct {
	addr    string
	log     *syncBuffer   // what it writes to its standard output
	direct  *redis.Client // the test's own client, straight to it
	process *os.Process   // for a test to kill it
}

// freePort is a loopback port that nothing listens on, for now.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startRedisServer runs a redis-server of the test's own on a free loopback
// port, saving nothing, until the test ends. It is for what only a real
// Redis does to its clients (CLIENT KILL, output buffer limits), done where
// no other test sees it; with cluster, a node of a cluster of the test's
// own (startCluster). Without redis-server on the PATH, the test is skipped.
func startRedisServer(t *testing.T, cluster ...bool) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("skipped: this test runs a redis-server of its own, and there is none on the PATH")
	}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		addr := net.JoinHostPort("127.0.0.1", port)
		args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
		if len(cluster) > 0 && cluster[0] { // as tools/cluster/cluster.sh starts a node, its bus on a free port too
			args = append(args, "--cluster-enabled", "yes", "--cluster-port", freePort(t), "--dir", t.TempDir(),
				"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0")
		}
		cmd := exec.Command(path, args...)
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
			return &redisServer{addr: addr, log: out, direct: direct, process: cmd.Process}
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

// startCluster runs a Redis Cluster of the test's own, as
// tools/cluster/cluster.sh does: six redis-servers, three masters with a
// replica each, which takes over 2 s after its master dies. It is for what
// changes a cluster for everyone (a master killed, a slot moved), done
// where no other test sees it; about 4 s to start. It runs only when
// REDIS_TEST_URL names a cluster (CI's does), with redis-server and
// redis-cli installed; otherwise the test is skipped.
func startCluster(t *testing.T) []*redisServer {
	if !newTestRedis(t).cluster {
		t.Skip("skipped: this test runs a Redis Cluster of its own, only when REDIS_TEST_URL names a cluster")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("skipped: this test runs a Redis Cluster of its own, and there is no redis-cli on the PATH")
	}
	nodes := make([]*redisServer, 6)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = startRedisServer(t, true)
		args = append(args, nodes[i].addr)
	}
	if out, err := exec.Command(cli, append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must know every replica, and a replica that has not
	// synced yet would not take over.
	waitFor(t, "the cluster to be ok, with every replica known and in sync", func() bool {
		for _, n := range nodes {
			info, _ := n.direct.ClusterInfo(context.Background()).Result()
			all, _ := n.direct.ClusterNodes(context.Background()).Result()
			repl, _ := n.direct.Info(context.Background(), "replication").Result()
			if !strings.Contains(info, "cluster_state:ok") || strings.Count(all, "slave") != 3 ||
				strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return true
	})
	return nodes
}
