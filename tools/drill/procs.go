package main

// The processes of a drill: the step and the balancer, built once; a
// redis-server of our own unless -redis names one; the instances, each
// stopped as Ctrl-C stops it (SIGTERM) and started again on its port.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	startTimeout = 20 * time.Second // a process to answer after it starts
	stopTimeout  = 10 * time.Second // an instance to exit after SIGTERM (its own bound is 5 s)
)

// build compiles the step at dir and the balancer into tmp. The step is built
// on its own (GOWORK=off), as the standalone module it is, so that a copy
// outside the workspace builds too.
func build(ctx context.Context, tmp, step string) (stepBin, lbBin string, err error) {
	stepBin, lbBin = filepath.Join(tmp, "step"), filepath.Join(tmp, "lb")
	root, err := workspaceRoot()
	if err != nil {
		return "", "", err
	}
	for _, b := range []struct{ dir, out, pkg string }{{step, stepBin, "."}, {root, lbBin, "./tools/lb"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if b.pkg == "." {
			cmd.Env = append(os.Environ(), "GOWORK=off")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s in %s: %v\n%s", b.pkg, b.dir, err, out)
		}
	}
	return stepBin, lbBin, nil
}

// workspaceRoot is the folder of the go.work this command runs in.
func workspaceRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	gowork := strings.TrimSpace(string(out))
	if err != nil || gowork == "" || gowork == "off" {
		return "", fmt.Errorf("run the drill from the repository (no go.work found: %q, %v)", gowork, err)
	}
	return filepath.Dir(gowork), nil
}

// process is one program the drill started, and what it printed.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed once it has exited
}

func start(name, bin string, env []string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	ownProcessGroup(cmd) // a Ctrl-C at the drill is ours to pass on
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM, as Ctrl-C in its terminal would, and waits for the
// exit; after stopTimeout it kills. It returns how long the exit took.
func (p *process) stop() (time.Duration, error) {
	begin := time.Now()
	terminate(p.cmd.Process)
	select {
	case <-p.done:
		return time.Since(begin), nil
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		return time.Since(begin), fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, stopTimeout)
	}
}

// waitHTTP waits until GET url answers 200, or the process exits.
func (p *process) waitHTTP(url string) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited:\n%s", p.name, p.out)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer GET %s within %v:\n%s", p.name, url, startTimeout, p.out)
}

// startRedis starts a redis-server of our own on a free loopback port.
func startRedis() (*process, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("the drill needs a real Redis: install redis-server, or name one with -redis (the embedded one goes away with the instance that hosts it)")
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := start("redis-server", bin, nil, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for !redisAnswers(addr) {
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("redis-server on %s did not answer PING:\n%s", addr, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, "redis://" + addr, nil
}

// redisAnswers reports whether a PING at addr gets PONG.
func redisAnswers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprint(conn, "PING\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.HasPrefix(line, "+PONG")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer keeps a process's output; it is written while read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
