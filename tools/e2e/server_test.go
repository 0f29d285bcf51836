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

// step is one workshop step, or a tool the tests run with the steps: its
// folder in the repository, which is also the end of its package path.
type step string

const (
	step1 step = "step1-http"
	step2 step = "step2-websocket"
	step3 step = "step3-redis"
	step4 step = "step4-rooms"

	// lbTool is the workshop's load balancer, which runs in front of
	// step-4 instances (balancer_test.go).
	lbTool step = "tools/lb"
)

// pkg is the step's import path in the go.work workspace.
func (s step) pkg() string { return "example.com/pubsub-chat/" + string(s) }

// present reports whether the step has been written yet: its main.go exists.
// The tests run in tools/e2e/, so the steps are two folders up. The same
// file is also looked at through the step's link (see readSources), so that
// go test's cache notices when a step that was missing lands.
func (s step) present() bool {
	os.Stat(filepath.Join(s.link(), "main.go"))
	_, err := os.Stat(filepath.Join(s.dir(), "main.go"))
	return err == nil
}

// dir is the step's folder, relative to the tests' working directory,
// tools/e2e/.
func (s step) dir() string { return filepath.Join("..", "..", string(s)) }

// link is the step's folder as seen through tools/e2e/testdata/NAME, a
// symbolic link to ../../../STEP, where NAME is the folder's own name
// (testdata/lb for tools/lb); see readSources for why.
func (s step) link() string { return filepath.Join("testdata", filepath.Base(string(s))) }

// skipUnlessPresent skips a test of a step that is not written yet, so its
// test starts to run on its own when the step lands.
func skipUnlessPresent(t *testing.T, s step) {
	t.Helper()
	if !s.present() {
		t.Skipf("%s not present (no ../../%s/main.go)", s, s)
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
	step1:  buildOnce(step1),
	step2:  buildOnce(step2),
	step3:  buildOnce(step3),
	step4:  buildOnce(step4),
	lbTool: buildOnce(lbTool),
}

func buildOnce(s step) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		if err := readSources(s); err != nil {
			return "", err
		}
		bin := filepath.Join(binDir, filepath.Base(string(s)))
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		// The package path resolves through go.work, like `go run` does
		// for a participant; the test's working directory is tools/e2e/,
		// inside the workspace.
		cmd := exec.Command("go", append(args, s.pkg())...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
		return bin, nil
	})
}

// readSources reads every file of the step's folder, so that go test's
// cache knows the test depends on them. go test caches a passing result
// and re-runs the test only if the test binary changed or a file the test
// opened did (its size or modification time; an opened folder counts with
// its list of files). The steps are built by a separate go build, so
// without this a changed step would not re-run the tests.
//
// go test only re-checks files inside the test's own module, tools/e2e/,
// and ignores ../../STEP; hence the files are read through the link
// testdata/STEP -> ../../../STEP, whose path is inside tools/e2e/. The link
// must lead to the step's folder: a checkout without symbolic links
// (Windows with git's core.symlinks off) makes it a small text file
// instead, and the build then fails here rather than the cache going stale
// unnoticed.
func readSources(s step) error {
	link, dir := s.link(), s.dir()
	viaLink, err1 := os.Stat(link)
	direct, err2 := os.Stat(dir)
	if err1 != nil || err2 != nil || !os.SameFile(viaLink, direct) {
		return fmt.Errorf("%s must be a symbolic link to the step's folder, ../../../%s, so that go test's cache sees the step change; in tools/e2e/, make it with: ln -sfn ../../../%s %s", link, s, s, link)
	}
	return readTree(link)
}

// readTree reads the folder dir and every file in it and in its
// subfolders, except testdata and the folders go ignores (.x and _x).
func readTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if name := e.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				continue
			}
			if err := readTree(path); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if _, err := os.ReadFile(path); err != nil {
				return err
			}
		}
	}
	return nil
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

// server is one step server on its own port (or another program that
// serves HTTP there, such as a load balancer). It runs as one process at a
// time: restart replaces the process, on the same port.
type server struct {
	name string
	// URL is http://127.0.0.1:PORT, without a trailing slash. The steps
	// listen on "localhost", which Go resolves to 127.0.0.1 for listening.
	URL string

	bin    string
	port   int
	args   []string // the command's arguments: for a step, its port
	env    []string
	output *syncBuffer // stdout and stderr of every process, interleaved
	proc   *process    // the current process
}

// process is one run of a server's binary.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // valid once exited is closed
	stopped bool  // the test stopped it on purpose, to restart the server
}

// startServer builds the step if needed, starts it on a free loopback port
// with the extra environment variables env ("KEY=value"), waits until its
// page answers, and stops it when the test ends. On failure the server's
// output is printed.
func startServer(t *testing.T, s step, env ...string) *server {
	t.Helper()
	bin := buildStep(t, s)
	port := freePort(t)
	return startCommand(t, fmt.Sprintf("%s :%d", s, port), port, bin, []string{fmt.Sprint(port)}, env...)
}

// startCommand is startServer for any program that serves HTTP on port
// once started as bin with args: it is called name in the test's messages.
func startCommand(t *testing.T, name string, port int, bin string, args []string, env ...string) *server {
	t.Helper()
	srv := &server{
		name:   name,
		URL:    fmt.Sprintf("http://127.0.0.1:%d", port),
		bin:    bin,
		port:   port,
		args:   args,
		env:    env,
		output: &syncBuffer{},
	}
	srv.launch(t)
	t.Cleanup(func() { srv.stop(t) })
	if err := srv.waitReady(); err != nil {
		t.Fatalf("%s: %v", srv.name, err)
	}
	return srv
}

// launch starts a new process of the server, without waiting for it.
func (srv *server) launch(t *testing.T) {
	t.Helper()
	cmd := exec.Command(srv.bin, srv.args...)
	// Later entries win, so env overrides the test's own environment.
	cmd.Env = append(os.Environ(), srv.env...)
	cmd.Stdout = srv.output
	cmd.Stderr = srv.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", srv.name, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	srv.proc = p
}

// restart stops the server (see shutDown), calls whileStopped (if not nil)
// once the process has exited, then starts the same binary again on the
// same port with the same environment and waits until its page answers.
func (srv *server) restart(t *testing.T, whileStopped func()) {
	t.Helper()
	srv.shutDown(t)
	if whileStopped != nil {
		whileStopped()
	}
	fmt.Fprintf(srv.output, "--- e2e: restarting %s ---\n", srv.name)
	srv.launch(t)
	if err := srv.waitReady(); err != nil {
		t.Fatalf("%s, restarted: %v", srv.name, err)
	}
}

// shutDown stops the server as a person does, with Ctrl-C (here SIGTERM),
// and waits until it has exited; it stays down unless restarted. The
// server must exit on its own after SIGTERM, and cleanly: from step 3 on,
// a server shuts down gracefully.
func (srv *server) shutDown(t *testing.T) {
	t.Helper()
	p := srv.proc
	select {
	case <-p.exited:
		t.Fatalf("%s exited before it was stopped: %v", srv.name, p.waitErr)
	default:
	}
	p.stopped = true
	if !srv.terminate(t, p) {
		t.Fatalf("%s: did not exit after SIGTERM", srv.name)
	}
	if p.waitErr != nil {
		t.Errorf("%s: after SIGTERM: %v, want a clean exit", srv.name, p.waitErr)
	}
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
		case <-srv.proc.exited:
			return fmt.Errorf("exited before it was ready: %v", srv.proc.waitErr)
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL after serverStopTimeout. A
// server that died on its own, or whose output reports a data race, fails
// the test; on any failure its output is printed.
func (srv *server) stop(t *testing.T) {
	p := srv.proc
	select {
	case <-p.exited:
		if !p.stopped {
			t.Errorf("%s exited during the test: %v", srv.name, p.waitErr)
		}
	default:
		srv.terminate(t, p)
	}
	out := srv.output.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("%s reported a data race", srv.name)
	}
	if t.Failed() {
		t.Logf("output of %s:\n%s", srv.name, indent(out))
	}
}

// terminate sends the process SIGTERM and waits until it exits; after
// serverStopTimeout it kills it instead. It reports whether the process
// exited by itself.
func (srv *server) terminate(t *testing.T, p *process) bool {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(serverStopTimeout):
		t.Logf("%s ignored SIGTERM for %v; killing it", srv.name, serverStopTimeout)
		p.cmd.Process.Kill()
		<-p.exited
		return false
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
