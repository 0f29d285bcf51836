package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// serverStartTimeout bounds the wait for a freshly started step to
	// answer GET /. It starts in milliseconds; the margin is for a
	// -race binary on a busy two-core CI machine.
	serverStartTimeout = 20 * time.Second

	// readyPollInterval is how often GET / is retried while a server starts.
	readyPollInterval = 25 * time.Millisecond

	// serverStopTimeout is how long a server may take to exit after
	// SIGTERM before it is killed. Steps 1 and 2 die at once; from step 3
	// on, a server shuts down gracefully, within its own 5-second limit.
	serverStopTimeout = 10 * time.Second
)

// step is one workshop step: its folder at the repository root, which is
// also the last element of its package path.
type step string

const (
	step1 step = "step1-http"
	step2 step = "step2-websocket"
	step3 step = "step3-redis"
	step4 step = "step4-rooms"
)

// pkg is the step's import path in the go.work workspace.
func (s step) pkg() string { return "example.com/pubsub-chat/" + string(s) }

// present reports whether the step has been written yet: its main.go exists.
// The tests run in e2e/, so the steps are next to it.
func (s step) present() bool {
	_, err := os.Stat(filepath.Join("..", string(s), "main.go"))
	return err == nil
}

// skipUnlessPresent skips a test of a step that is not written yet, so its
// test starts to run on its own when the step lands.
func skipUnlessPresent(t *testing.T, s step) {
	t.Helper()
	if !s.present() {
		t.Skipf("%s not present (no ../%s/main.go)", s, s)
	}
}

// binDir holds the step binaries of one test run; TestMain creates and
// removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builds holds, for each step, a function that builds its binary the first
// time a test asks and returns the same result after that: each step is
// built at most once per test run, and only if a test needs it.
var builds = map[step]func() (string, error){
	step1: buildOnce(step1),
	step2: buildOnce(step2),
	step3: buildOnce(step3),
	step4: buildOnce(step4),
}

func buildOnce(s step) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		bin := filepath.Join(binDir, string(s))
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		// The package path resolves through go.work, like `go run` does
		// for a participant; the test's working directory is e2e/, inside
		// the workspace.
		cmd := exec.Command("go", append(args, s.pkg())...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
		return bin, nil
	})
}

// buildStep returns the path of the step's binary, building it on first use.
func buildStep(t *testing.T, s step) string {
	t.Helper()
	bin, err := builds[s]()
	if err != nil {
		t.Fatalf("building %s: %v", s, err)
	}
	return bin
}

// server is one running step process.
type server struct {
	name string
	// URL is http://127.0.0.1:PORT, without a trailing slash. The steps
	// listen on "localhost", which Go resolves to 127.0.0.1 for listening.
	URL string

	cmd     *exec.Cmd
	output  *syncBuffer // stdout and stderr, interleaved
	exited  chan struct{}
	waitErr error // valid once exited is closed
}

// startServer builds the step if needed, starts it on a free loopback port
// with the extra environment variables env ("KEY=value"), waits until its
// page answers, and stops it when the test ends. On failure the server's
// output is printed.
func startServer(t *testing.T, s step, env ...string) *server {
	t.Helper()
	bin := buildStep(t, s)
	port := freePort(t)

	srv := &server{
		name:   fmt.Sprintf("%s :%d", s, port),
		URL:    fmt.Sprintf("http://127.0.0.1:%d", port),
		output: &syncBuffer{},
		exited: make(chan struct{}),
	}
	srv.cmd = exec.Command(bin, fmt.Sprint(port))
	// Later entries win, so env overrides the test's own environment.
	srv.cmd.Env = append(os.Environ(), env...)
	srv.cmd.Stdout = srv.output
	srv.cmd.Stderr = srv.output
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", srv.name, err)
	}
	go func() {
		srv.waitErr = srv.cmd.Wait()
		close(srv.exited)
	}()
	t.Cleanup(func() { srv.stop(t) })

	if err := srv.waitReady(); err != nil {
		t.Fatalf("%s: %v", srv.name, err)
	}
	return srv
}

// freePort asks the kernel for a free loopback port. The listener is closed
// again so the step can take the port; the small window in which another
// process could grab it is acceptable in a test.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls GET / until it answers 200, the server exits, or
// serverStartTimeout passes.
func (srv *server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		resp, err := client.Get(srv.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", serverStartTimeout, err)
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("exited before it was ready: %v", srv.waitErr)
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL after serverStopTimeout. A
// server that died on its own, or whose output reports a data race, fails
// the test; on any failure its output is printed.
func (srv *server) stop(t *testing.T) {
	select {
	case <-srv.exited:
		t.Errorf("%s exited during the test: %v", srv.name, srv.waitErr)
	default:
		srv.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-srv.exited:
		case <-time.After(serverStopTimeout):
			t.Logf("%s ignored SIGTERM for %v; killing it", srv.name, serverStopTimeout)
			srv.cmd.Process.Kill()
			<-srv.exited
		}
	}
	out := srv.output.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("%s reported a data race", srv.name)
	}
	if t.Failed() {
		t.Logf("output of %s:\n%s", srv.name, indent(out))
	}
}

// syncBuffer is a bytes.Buffer that a process may write to while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// indent prefixes every line of s, so multi-line output stands out in the
// test log; empty output says so.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
