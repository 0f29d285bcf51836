//go:build unix

package tutorialcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyLine is how a server says that it is up: our steps and tools log
// "listening on http://…", redis-server "Ready to accept connections".
var readyLine = regexp.MustCompile(`\blistening on \S|Ready to accept connections`)

// readyPort finds the port in a ready line: listening on http://localhost:3459.
var readyPort = regexp.MustCompile(`://[^/\s]*:(\d+)`)

// proc is one command the transcript started, as a student's terminal
// runs it: in a process group of its own, so that Ctrl-C (SIGINT to the
// group) reaches the server that `go run` started, and not only go.
type proc struct {
	line  int    // the tutorial's line of the command
	cmd   string // as the tutorial writes it
	dir   string
	names []string // what a directive may call it: its words, and the port it listens on
	port  int      // the port it said it listens on, or 0
	c     *exec.Cmd
	out   *lineBuffer
	done  chan struct{} // closed once it has exited and its output is read
	err   error         // its exit, valid once done is closed
	pos   int           // how many lines of its output the tutorial has shown so far
	// server: it said it was ready, and runs in the background until stopped.
	server bool
}

// start starts cmd in dir with env, in bash (or sh), in a new process group.
func start(line int, cmd, dir string, env []string) (*proc, error) {
	shell := "bash"
	if _, err := exec.LookPath(shell); err != nil {
		shell = "sh"
	}
	p := &proc{line: line, cmd: cmd, dir: dir, names: strings.Fields(cmd), out: newLineBuffer(), done: make(chan struct{})}
	p.c = exec.Command(shell, "-c", cmd)
	p.c.Dir, p.c.Env = dir, env
	// One writer for both: exec then gives them one pipe, and the lines
	// keep the order in which the program wrote them.
	p.c.Stdout, p.c.Stderr = p.out, p.out
	p.c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.c.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.c.Wait()
		p.out.close()
		close(p.done)
	}()
	return p, nil
}

// addName adds a name by which directives may call the process.
func (p *proc) addName(name string) {
	for _, n := range p.names {
		if n == name {
			return
		}
	}
	p.names = append(p.names, name)
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the status the shell exited with, or -1 for a signal.
func (p *proc) exitCode() int {
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// waitReadyOrExit waits until the process exits, or is ready, or timeout
// passes. It is ready when port takes connections, if port is not 0; else
// once it prints a ready line, and the port that line names (if any) takes
// connections.
func (p *proc) waitReadyOrExit(port int, timeout time.Duration) (ready bool, err error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var tick <-chan time.Time
	if port != 0 {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		lines, changed := p.out.snapshot()
		for _, l := range lines {
			if port == 0 && readyLine.MatchString(l) {
				m := readyPort.FindStringSubmatch(l)
				if m == nil {
					return true, nil
				}
				// Our steps say "listening on" just before they listen:
				// ready is when the port takes connections.
				port, _ = strconv.Atoi(m[1])
				t := time.NewTicker(20 * time.Millisecond)
				defer t.Stop()
				tick = t.C
			}
		}
		select {
		case <-p.done:
			return false, nil
		case <-changed:
		case <-tick:
			if portAnswers(port) {
				p.port = port
				p.addName(fmt.Sprint(port))
				return true, nil
			}
		case <-deadline.C:
			if port != 0 {
				return false, fmt.Errorf("port %d took no connection, and it did not exit, within %v", port, timeout)
			}
			return false, fmt.Errorf("no ready line (%q), and no exit, within %v", readyLine, timeout)
		}
	}
}

// interrupt sends SIGINT to the process group, as Ctrl-C in its terminal
// does, and waits until it has exited; after timeout it is killed.
func (p *proc) interrupt(timeout time.Duration) error {
	syscall.Kill(-p.c.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("still running %v after Ctrl-C: killed", timeout)
	}
}

// kill kills the whole process group and waits for it.
func (p *proc) kill() {
	syscall.Kill(-p.c.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// reapLeftovers kills what an earlier run left running. A run killed from
// outside (go test's -timeout, a closed pipe) cannot stop its servers, and
// they run on in process groups of their own. Each run lists its groups in
// pidFile; a process is killed only if it is in one of them and runs in
// the copy of the repository, dir. It needs /proc (Linux).
func reapLeftovers(pidFile, dir string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	groups := map[int]bool{}
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			groups[n] = true
		}
	}
	entries, _ := filepath.Glob("/proc/[0-9]*")
	for _, e := range entries {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || !groups[pgid] {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join(e, "cwd")); err == nil && strings.HasPrefix(cwd, dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	os.Remove(pidFile)
}

// record adds the process's group to pidFile, for reapLeftovers.
func (p *proc) record(pidFile string) {
	f, err := os.OpenFile(pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintln(f, p.c.Process.Pid)
	f.Close()
}

// lineBuffer collects a process's output, and tells waiters when a line
// arrives.
type lineBuffer struct {
	mu      sync.Mutex
	lines   []string
	partial string
	changed chan struct{} // closed and replaced at each new line
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	text := b.partial + string(p)
	parts := strings.Split(text, "\n")
	b.partial = parts[len(parts)-1]
	if len(parts) > 1 {
		for _, l := range parts[:len(parts)-1] {
			b.lines = append(b.lines, strings.TrimRight(l, "\r"))
		}
		close(b.changed)
		b.changed = make(chan struct{})
	}
	return len(p), nil
}

// close ends the last line, if it had no newline.
func (b *lineBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.partial != "" {
		b.lines = append(b.lines, b.partial)
		b.partial = ""
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// snapshot returns the lines so far, and a channel closed at the next one.
func (b *lineBuffer) snapshot() ([]string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...), b.changed
}

// env is the environment of the tutorial's commands: the test's own, as a
// student's shell has it, without what would point the steps elsewhere
// (REDIS_URL, REDIS_TEST_URL, GOWORK), and with git isolated from the
// machine's configuration, with a name to commit (git stash) under.
func commandEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "REDIS_URL", "REDIS_TEST_URL", "GOWORK", "GIT_DIR", "GIT_WORK_TREE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=student", "GIT_AUTHOR_EMAIL=student@example.com",
		"GIT_COMMITTER_NAME=student", "GIT_COMMITTER_EMAIL=student@example.com",
	)
}
