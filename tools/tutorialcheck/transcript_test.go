//go:build unix

package tutorialcheck

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// requireEnv set to "1" (CI sets it) makes whatever would skip a part
	// of the transcript a failure instead: a taken port, no Chromium, no
	// redis-server.
	requireEnv = "TRANSCRIPT_REQUIRE"

	// commandTimeout bounds a command until it exits or says it is ready:
	// the slowest is a go test -race on a cold build cache.
	commandTimeout = 4 * time.Minute

	// outputTimeout bounds the wait for a running server to show the lines
	// that the tutorial shows: each normally comes within a second.
	outputTimeout = 20 * time.Second

	// pageTimeout bounds every wait for a page: a load, a field to become
	// usable, the text the tutorial shows.
	pageTimeout = 15 * time.Second

	// stopTimeout bounds a server's exit after Ctrl-C. Steps 3 and 4 take
	// up to their shutdownTimeout, 5 s, to say goodbye to their clients.
	stopTimeout = 20 * time.Second
)

// TestTranscript runs the tutorial as a student would, in a copy of the
// repository, and checks that what it shows is what appears.
func TestTranscript(t *testing.T) {
	events, problems := Transcript(readTutorial(t))
	if len(problems) > 0 {
		t.Skip("the tutorial's directives are not well formed: see TestTranscriptIsWellFormed")
	}
	began := time.Now()
	dir := copyDir(t)
	reapLeftovers(dir+".pids", dir)
	r := newRunner(t, dir, events)
	copyRepository(t, dir)
	t.Cleanup(r.stopAll)
	r.run(events)
	blocks, byHand := Count(events)
	t.Logf("transcript: %d commands run, %d output blocks and %d page blocks checked, %d blocks skipped, %d of %d blocks marked by hand, in %v",
		r.commands, r.outputs, r.pages, r.skipped, byHand, blocks, time.Since(began).Round(time.Second))
	if len(r.skips) > 0 && !t.Failed() {
		t.Skipf("parts of the tutorial were skipped (%d blocks; %s=1 makes this a failure):\n%s", r.skipped, requireEnv, strings.Join(r.skips, "\n"))
	}
}

// reporter is what the runner needs of a test: *testing.T, or a fake that
// the runner's own test uses to see what it reports.
type reporter interface {
	Helper()
	Log(args ...any)
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
}

// newRunner prepares to run events in repo: it notes which of the ports
// they use are taken before anything starts.
func newRunner(t reporter, repo string, events []Event) *runner {
	r := &runner{t: t, repo: repo, cwd: repo, pidFile: repo + ".pids", env: commandEnv(),
		require: os.Getenv(requireEnv) == "1", taken: map[int]bool{},
		outputWait: outputTimeout, pageWait: pageTimeout}
	r.chromium, r.chromiumErr = findChromium()
	var taken []string
	for _, e := range events {
		for _, p := range e.Ports {
			if _, seen := r.taken[p]; !seen {
				r.taken[p] = !portFree(p)
				if r.taken[p] {
					taken = append(taken, strconv.Itoa(p))
				}
			}
		}
	}
	if len(taken) > 0 {
		t.Logf("ports taken before the transcript started: %s; the parts that use them are skipped", strings.Join(taken, ", "))
	}
	return r
}

// run runs the events, then stops every server still running.
func (r *runner) run(events []Event) {
	for _, e := range events {
		r.do(e)
	}
	r.stopAll()
}

// runner runs the transcript's events, one after the other.
type runner struct {
	t       reporter
	repo    string // the copy of the repository the commands run in
	pidFile string // the process groups started, for the next run (reapLeftovers)
	cwd     string // where the next command runs: cd moves it
	env     []string
	require bool
	taken   map[int]bool // ports taken before the transcript started

	procs []*proc // every command started, in order
	last  *shown  // the output of the last shell block
	// What directives leave for the next shell block.
	answer    string // a patch to apply before it, and take back after
	readyPort int    // its server is ready when this port answers

	skipping bool     // the rest of this part is skipped
	skips    []string // why parts were skipped

	chromium    string
	chromiumErr error
	browser     *browser

	commands, outputs, pages, skipped int

	// How long a server may take to show the lines the tutorial shows, and
	// a page to show its text: outputTimeout and pageTimeout, shorter in
	// the runner's own test.
	outputWait, pageWait time.Duration
}

// shown is what a shell block showed: the output of its commands that
// exited, or the server it started.
type shown struct {
	line   int
	cmds   string
	out    []string
	pos    int
	server *proc
	byHand bool
}

// do runs or checks one event.
func (r *runner) do(e Event) {
	t := r.t
	t.Helper()
	if e.Kind == "heading" {
		r.skipping, r.answer, r.readyPort = false, "", 0
		if e.Args[0] == "2" && r.browser != nil {
			r.browser.closeTabs() // a new chapter opens its own tabs
		}
		return
	}
	if r.skipping {
		if e.Kind == "shell" || e.Kind == "output" || e.Kind == "page" || e.Kind == "console" {
			r.skipped++
		}
		return
	}
	switch e.Kind {
	case "shell":
		r.shell(e)
	case "output":
		r.output(e)
	case "page":
		r.page(e)
	case "console":
		if tb := r.tab(e.Line, e.Args[0]); tb != nil {
			if err := tb.console(e.Text, r.pageWait); err != nil {
				t.Errorf("tutorial.md:%d: running it in the console of %s: %v", e.Line, e.Args[0], err)
			}
		}
	case "ctrl-c":
		var ps []*proc
		if e.Args[0] == "all" {
			for _, p := range r.procs {
				if p.server && !p.exited() {
					ps = append(ps, p)
				}
			}
		} else {
			for _, name := range e.Args {
				if p := r.running(e.Line, name); p != nil {
					ps = append(ps, p)
				}
			}
		}
		for _, p := range ps {
			if err := p.interrupt(stopTimeout); err != nil {
				t.Errorf("tutorial.md:%d: `%s` (line %d): %v", e.Line, p.cmd, p.line, err)
			}
		}
	case "again":
		r.again(e)
	case "ready":
		r.readyPort, _ = strconv.Atoi(e.Args[0])
	case "answer":
		r.answer = e.Args[0]
	case "needs":
		if !installed(e.Args[0]) {
			r.skip(e.Line, fmt.Sprintf("this part needs %s, which is not installed", e.Args[0]))
		}
	case "edit":
		f, err := os.OpenFile(filepath.Join(r.repo, e.Args[0]), os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = io.WriteString(f, "// an edit of yours\n")
			f.Close()
		}
		if err != nil {
			t.Errorf("tutorial.md:%d: edit: %v", e.Line, err)
		}
	case "open":
		if !r.needBrowser(e.Line) {
			return
		}
		for _, url := range e.Args {
			if _, err := r.browser.open(url, r.pageWait); err != nil {
				t.Errorf("tutorial.md:%d: opening %s: %v", e.Line, url, err)
			}
		}
	case "reload":
		if !r.needBrowser(e.Line) {
			return
		}
		tabs := r.browser.on(e.Args[0])
		if len(tabs) == 0 {
			t.Errorf("tutorial.md:%d: reload: no tab is open on %s", e.Line, e.Args[0])
		}
		for _, tb := range tabs {
			if err := tb.run(r.pageWait, chromedp.Reload()); err != nil {
				t.Errorf("tutorial.md:%d: reloading %s: %v", e.Line, e.Args[0], err)
			}
		}
	case "type":
		sel := e.Args[1]
		text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(e.Rest, e.Args[0])), sel))
		if tb := r.tab(e.Line, e.Args[0]); tb != nil {
			if err := tb.typeIn(sel, text, r.pageWait); err != nil {
				t.Errorf("tutorial.md:%d: typing %q in %s on %s: %v", e.Line, text, sel, e.Args[0], err)
			}
		}
	case "click":
		sel := strings.TrimSpace(strings.TrimPrefix(e.Rest, e.Args[0]))
		if tb := r.tab(e.Line, e.Args[0]); tb != nil {
			if err := tb.click(sel, r.pageWait); err != nil {
				t.Errorf("tutorial.md:%d: clicking %s on %s: %v", e.Line, sel, e.Args[0], err)
			}
		}
	}
}

// shell runs a shell block's commands, one after the other, as a student
// does in one terminal: each command until it exits, or, for a server,
// until it says it is ready; the server then runs on in the background.
func (r *runner) shell(e Event) {
	t := r.t
	t.Helper()
	answer, readyPort := r.answer, r.readyPort
	r.answer, r.readyPort = "", 0
	if e.ByHand {
		r.last = &shown{line: e.Line, byHand: true}
		return
	}
	cmds := Commands(e)
	for _, c := range cmds {
		if prog := Program(c.Text); prog != "" {
			if !installed(prog) {
				r.skip(e.Line, fmt.Sprintf("`%s` needs %s, which is not installed", c.Text, prog))
				return
			}
		}
	}
	for _, p := range e.Ports {
		if r.taken[p] {
			r.skip(e.Line, fmt.Sprintf("it uses port %d, which was taken before the transcript started", p))
			return
		}
	}
	if answer != "" {
		step := strings.SplitN(answer, "/", 2)[0]
		r.git(e.Line, "checkout", "-q", "--", step)
		r.git(e.Line, "clean", "-fdq", step)
		r.git(e.Line, "apply", answer)
		defer func() {
			r.git(e.Line, "checkout", "-q", "--", step)
			r.git(e.Line, "clean", "-fdq", step)
		}()
	}

	s := &shown{line: e.Line}
	if len(cmds) > 0 {
		s.line = cmds[0].Line
	}
	var texts []string
	for i, c := range cmds {
		texts = append(texts, c.Text)
		if dir, ok := strings.CutPrefix(c.Text, "cd "); ok {
			next := filepath.Join(r.cwd, dir)
			if st, err := os.Stat(next); err != nil || !st.IsDir() {
				t.Fatalf("tutorial.md:%d: `%s`: no such folder", c.Line, c.Text)
			}
			r.cwd = next
			continue
		}
		began := time.Now()
		p, err := start(c.Line, c.Text, r.cwd, r.env)
		if err != nil {
			t.Fatalf("tutorial.md:%d: `%s`: %v", c.Line, c.Text, err)
		}
		r.procs = append(r.procs, p)
		p.record(r.pidFile)
		r.commands++
		ready, err := p.waitReadyOrExit(readyPort, commandTimeout)
		if err != nil {
			lines, _ := p.out.snapshot()
			t.Fatalf("tutorial.md:%d: `%s`: %v; its output:\n%s", c.Line, c.Text, err, indent(lines))
		}
		if ready {
			t.Logf("tutorial.md:%d: $ %s: ready after %v, runs on as %s", c.Line, c.Text, time.Since(began).Round(time.Millisecond), strings.Join(p.names, " "))
			p.server = true
			if r.taken[p.port] {
				r.skip(c.Line, fmt.Sprintf("it listens on port %d, which was taken before the transcript started", p.port))
				return
			}
			r.checkPort(c.Line, p)
			if i != len(cmds)-1 {
				t.Fatalf("tutorial.md:%d: `%s` is a server, so the terminal waits for it: it must be the last command of its block", c.Line, c.Text)
			}
			s.server = p
			continue
		}
		lines, _ := p.out.snapshot()
		t.Logf("tutorial.md:%d: $ %s: exit status %d after %v", c.Line, c.Text, p.exitCode(), time.Since(began).Round(time.Millisecond))
		s.out = append(s.out, lines...)
		if code := p.exitCode(); code != 0 && !e.Shown {
			t.Errorf("tutorial.md:%d: `%s` exited with status %d; the tutorial shows no output for it, so it must succeed. Its output:\n%s", c.Line, c.Text, code, indent(lines))
		}
	}
	s.cmds = strings.Join(texts, "; ")
	r.last = s
}

// again starts a stopped server again, as a student runs its command
// again in its terminal.
func (r *runner) again(e Event) {
	t := r.t
	t.Helper()
	var old *proc
	for _, p := range r.procs {
		if p.server && p.exited() && hasName(p, e.Args[0]) {
			old = p
		}
	}
	if old == nil {
		t.Errorf("tutorial.md:%d: again: no stopped server is called %s", e.Line, e.Args[0])
		return
	}
	p, err := start(e.Line, old.cmd, old.dir, r.env)
	if err != nil {
		t.Fatalf("tutorial.md:%d: `%s` again: %v", e.Line, old.cmd, err)
	}
	r.procs = append(r.procs, p)
	p.record(r.pidFile)
	r.commands++
	if ready, err := p.waitReadyOrExit(0, commandTimeout); !ready {
		lines, _ := p.out.snapshot()
		t.Fatalf("tutorial.md:%d: `%s` again did not get ready (%v); its output:\n%s", e.Line, old.cmd, err, indent(lines))
	}
	p.server = true
	r.checkPort(e.Line, p)
	r.last = &shown{line: e.Line, cmds: old.cmd, server: p}
}

// checkPort fails the test when a server says it listens on a port where
// another server that the tutorial started still runs: a step says it
// listens before it binds, then exits with "address already in use".
func (r *runner) checkPort(line int, p *proc) {
	r.t.Helper()
	for _, q := range r.procs {
		if q != p && q.server && q.port != 0 && q.port == p.port && !q.exited() {
			r.t.Errorf("tutorial.md:%d: `%s` wants port %d, where `%s` (line %d) still runs: the tutorial must stop it first", line, p.cmd, p.port, q.cmd, q.line)
		}
	}
}

// output checks an output block: its lines must appear in the output of
// the shell block before it, or of the process it names, in order, after
// what earlier blocks showed of it.
func (r *runner) output(e Event) {
	t := r.t
	t.Helper()
	r.outputs++
	if len(e.Args) == 1 {
		var p *proc
		for _, q := range r.procs {
			if q.server && hasName(q, e.Args[0]) {
				p = q // the latest
			}
		}
		if p == nil {
			t.Errorf("tutorial.md:%d: no server called %s has run", e.Line, e.Args[0])
			return
		}
		r.outputOf(e, p)
		return
	}
	s := r.last
	switch {
	case s == nil:
		t.Errorf("tutorial.md:%d: output, but no shell block has run", e.Line)
	case s.byHand:
		return
	case s.server != nil:
		r.outputOf(e, s.server)
	default:
		want := shownLines(e)
		found, end := Match(texts(want), s.out[s.pos:])
		if found < len(want) {
			t.Errorf("tutorial.md:%d: `%s` (line %d) did not show this line: %q\nIts output:\n%s", want[found].line, s.cmds, s.line, want[found].text, indent(s.out))
			return
		}
		s.pos += end
	}
}

// outputOf waits until the process p has shown the lines of e.
func (r *runner) outputOf(e Event, p *proc) {
	t := r.t
	t.Helper()
	want := shownLines(e)
	deadline := time.NewTimer(r.outputWait)
	defer deadline.Stop()
	for {
		exited := p.exited() // before the snapshot, which then has everything
		lines, changed := p.out.snapshot()
		found, end := Match(texts(want), lines[p.pos:])
		if found == len(want) {
			p.pos += end
			return
		}
		fail := func(why string) {
			t.Errorf("tutorial.md:%d: `%s` (line %d) %s this line: %q\nIts output since the last line the tutorial showed:\n%s",
				want[found].line, p.cmd, p.line, why, want[found].text, indent(lines[p.pos:]))
		}
		if exited {
			fail("exited without showing")
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			fail(fmt.Sprintf("did not show, within %v,", r.outputWait))
			return
		}
	}
}

// page checks a page block: every tab open on each of its URLs must show
// its lines, in order, within r.pageWait.
func (r *runner) page(e Event) {
	t := r.t
	t.Helper()
	if !r.needBrowser(e.Line) {
		return
	}
	r.pages++
	want := shownLines(e)
	for _, url := range e.Args {
		tabs := r.browser.on(url)
		if len(tabs) == 0 {
			t.Errorf("tutorial.md:%d: no tab is open on %s: the tutorial must open one first (<!--open %s-->)", e.Line, url, url)
		}
		for i, tb := range tabs {
			deadline := time.Now().Add(r.pageWait)
			for {
				text, err := tb.text(r.pageWait)
				if err != nil {
					t.Errorf("tutorial.md:%d: reading the page of tab %d on %s: %v", e.Line, i+1, url, err)
					break
				}
				got := Lines(text)
				found, _ := Match(texts(want), got)
				if found == len(want) {
					break
				}
				if time.Until(deadline) <= 0 || tb.waitChange(text, time.Until(deadline)) != nil {
					t.Errorf("tutorial.md:%d: tab %d on %s did not show, within %v, this line: %q\nThe page shows:\n%s",
						want[found].line, i+1, url, r.pageWait, want[found].text, indent(got))
					break
				}
			}
		}
	}
}

// tab returns the first tab open on url, or nil after reporting why not.
func (r *runner) tab(line int, url string) *tab {
	if !r.needBrowser(line) {
		return nil
	}
	tabs := r.browser.on(url)
	if len(tabs) == 0 {
		r.t.Errorf("tutorial.md:%d: no tab is open on %s: the tutorial must open one first (<!--open %s-->)", line, url, url)
		return nil
	}
	return tabs[0]
}

// needBrowser starts Chromium the first time a page is needed. Without
// one, the rest of the part is skipped, and it returns false.
func (r *runner) needBrowser(line int) bool {
	if r.browser != nil {
		return true
	}
	if r.chromiumErr != nil {
		r.skip(line, "it needs a browser: "+r.chromiumErr.Error())
		return false
	}
	b, err := newBrowser(r.chromium, r.t.TempDir())
	if err != nil {
		r.t.Fatalf("tutorial.md:%d: %v", line, err)
	}
	r.browser = b
	return true
}

// running returns the one running server called name.
func (r *runner) running(line int, name string) *proc {
	var found []*proc
	var all []string
	for _, p := range r.procs {
		if p.server && !p.exited() {
			all = append(all, fmt.Sprintf("`%s` (%s)", p.cmd, strings.Join(p.names, " ")))
			if hasName(p, name) {
				found = append(found, p)
			}
		}
	}
	if len(found) > 1 {
		// A port names the server listening on it before one whose command
		// merely has it: go run ./tools/lb 8080 3459 is not 3459.
		var on []*proc
		for _, p := range found {
			if strconv.Itoa(p.port) == name {
				on = append(on, p)
			}
		}
		if len(on) == 1 {
			found = on
		}
	}
	if len(found) != 1 {
		r.t.Errorf("tutorial.md:%d: %d running servers are called %s, want one; running: %s", line, len(found), name, strings.Join(all, ", "))
		return nil
	}
	return found[0]
}

func hasName(p *proc, name string) bool {
	for _, n := range p.names {
		if n == name {
			return true
		}
	}
	return false
}

// skip skips the rest of this part of the tutorial, up to its next
// heading, and stops the servers it started, which the skipped part
// would have stopped. With TRANSCRIPT_REQUIRE=1 it fails instead.
func (r *runner) skip(line int, why string) {
	r.t.Helper()
	if r.require {
		r.t.Fatalf("tutorial.md:%d: %s (and %s=1 requires every part to run)", line, why, requireEnv)
	}
	msg := fmt.Sprintf("tutorial.md:%d: skipped up to the next heading: %s", line, why)
	r.t.Log(msg)
	r.skips = append(r.skips, msg)
	r.skipping = true
	r.skipped++
	for _, p := range r.procs {
		if p.server && !p.exited() {
			p.interrupt(stopTimeout)
		}
	}
}

// stopAll stops every server still running, and the browser.
func (r *runner) stopAll() {
	for _, p := range r.procs {
		if !p.exited() {
			if err := p.interrupt(stopTimeout); err != nil {
				r.t.Errorf("tutorial.md:%d: `%s`, stopped at the end: %v", p.line, p.cmd, err)
			}
		}
	}
	if r.browser != nil {
		r.browser.cancel()
		r.browser = nil
	}
}

// git runs git in the copy of the repository, for a directive.
func (r *runner) git(line int, args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.repo, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("tutorial.md:%d: git %s: %v\n%s", line, strings.Join(args, " "), err, out)
	}
}

// A shownLine is one line that the tutorial shows, and where.
type shownLine struct {
	line int
	text string
}

// shownLines are the lines of a block that have something on them.
func shownLines(e Event) []shownLine {
	var out []shownLine
	for i, l := range strings.Split(strings.TrimSuffix(e.Text, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, shownLine{e.Line + 1 + i, l})
		}
	}
	return out
}

func texts(ls []shownLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "\t(nothing)"
	}
	return "\t" + strings.Join(lines, "\n\t")
}

// installed reports whether the shell can run prog: a program on the PATH,
// or one of the shell's own commands (cd, trap, export).
func installed(prog string) bool {
	if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		// A script of the workshop's own, such as tools/cluster/cluster.sh:
		// the student runs it from the repository's root.
		_, err := os.Stat(filepath.Join(root, prog))
		return err == nil
	}
	if _, err := exec.LookPath(prog); err == nil {
		return true
	}
	return exec.Command("bash", "-c", `command -v -- "$1"`, "_", prog).Run() == nil
}

// portFree reports whether nothing listens on localhost:port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("localhost:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// portAnswers reports whether something accepts connections on localhost:port.
func portAnswers(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("localhost:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// copyRepository copies what testdata links to (the tutorial, go.work, the
// steps and tools/) into a folder of its own, and makes it a git
// repository with one commit, as a fresh clone: the tutorial's commands
// may change files (git apply, git stash), never the real ones.
//
// Every file is read through the links, so that go test's cache notices
// when one changes. The folder's path is the same from run to run (one per
// repository), and the copies keep their times: go's build and test
// caches, which key on the folder, then answer for what has not changed,
// as they would for a student running the same command twice.
func copyRepository(t *testing.T, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ignored := ignoredFiles()
	for _, e := range entries {
		if err := copyTree(filepath.Join(root, e.Name()), filepath.Join(dst, e.Name()), e.Name(), ignored); err != nil {
			t.Fatalf("copying the repository: %v", err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "--no-verify", "-m", "the workshop, as cloned"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dst, commandEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s in %s: %v\n%s", args[0], dst, err, out)
		}
	}
}

// copyDir is where copyRepository copies this repository to: the same
// folder from run to run, one per repository.
func copyDir(t *testing.T) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(filepath.Join(root, "tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	real, _ = filepath.Abs(real)
	sum := sha256.Sum256([]byte(filepath.Dir(real)))
	return filepath.Join(os.TempDir(), fmt.Sprintf("tutorialcheck-transcript-%x", sum[:6]))
}

// ignoredFiles are the files and folders (ending in /) that git ignores in
// the real repository, as paths from its root: a clone would not have
// them (test binaries, load test results). Without git, none.
func ignoredFiles() map[string]bool {
	real, err := filepath.EvalSymlinks(filepath.Join(root, "tutorial.md"))
	if err != nil {
		return nil
	}
	out, err := exec.Command("git", "-C", filepath.Dir(real), "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory").Output()
	if err != nil {
		return nil
	}
	ignored := map[string]bool{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			ignored[p] = true
		}
	}
	return ignored
}

// copyTree copies the file or folder src, which is rel in the repository,
// to dst, following src if it is a link, but no link inside it (testdata
// links lead back up the tree), and leaving out what git ignores.
func copyTree(src, dst, rel string, ignored map[string]bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, st.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(dst, st.ModTime(), st.ModTime())
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := rel + "/" + e.Name()
		if e.Type()&os.ModeSymlink != 0 || e.Name() == ".git" || ignored[name] || ignored[name+"/"] {
			continue
		}
		if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), name, ignored); err != nil {
			return err
		}
	}
	return nil
}
