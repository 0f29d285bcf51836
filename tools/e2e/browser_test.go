package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	// defaultChromium is where Debian's chromium package installs its launcher.
	defaultChromium = "/usr/bin/chromium"

	// chromiumEnv names another browser binary to use (any Chromium or Chrome).
	chromiumEnv = "CHROMIUM"

	// requireBrowserEnv set to "1" turns a missing browser from a skip into
	// a failure, so that CI cannot pass by silently testing nothing.
	requireBrowserEnv = "E2E_REQUIRE_BROWSER"

	// waitTimeout bounds every wait for the page: a load, the status line,
	// a message arriving. Each normally takes milliseconds; a user would
	// have given up long before this.
	waitTimeout = 10 * time.Second

	// screenshotTimeout bounds taking the screenshot of one tab after a
	// failure, so that a hung tab cannot hang the cleanup as well.
	screenshotTimeout = 5 * time.Second

	// browserCloseTimeout bounds the graceful close of Chromium, after
	// which it is killed. Closing takes well under a second.
	browserCloseTimeout = 5 * time.Second
)

// chromiumFlags are exactly the flags with which Debian's Chromium runs
// headless here: no sandbox (we are root in a container), no GPU, and no
// traffic of its own (updates, sync, first-run pages) besides the pages
// under test. chromedp adds --remote-debugging-port=0, which is how it
// talks to the browser, and about:blank as the first page; the fresh
// --user-data-dir comes from newBrowser.
var chromiumFlags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
	"no-first-run",
}

// findChromium returns the browser to use: $CHROMIUM if set, else Debian's
// /usr/bin/chromium, else "chromium" on the PATH.
func findChromium() (string, error) {
	if path := os.Getenv(chromiumEnv); path != "" {
		if _, err := exec.LookPath(path); err != nil {
			return "", fmt.Errorf("$%s is set but unusable: %v", chromiumEnv, err)
		}
		return path, nil
	}
	if _, err := exec.LookPath(defaultChromium); err == nil {
		return defaultChromium, nil
	}
	if path, err := exec.LookPath("chromium"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("no Chromium: no %s, no chromium on the PATH, $%s unset", defaultChromium, chromiumEnv)
}

// needChromium returns the browser's path, or skips the test with a one-line
// reason when there is none (fails it instead if E2E_REQUIRE_BROWSER=1).
// Call it first, before starting servers, so that a skip is immediate.
func needChromium(t *testing.T) string {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		if os.Getenv(requireBrowserEnv) == "1" {
			t.Fatalf("%v (and %s=1 requires a browser)", err, requireBrowserEnv)
		}
		t.Skipf("skipping browser test: %v", err)
	}
	return path
}

// browser is one headless Chromium for one test. Its tabs record every
// console error and uncaught exception; the test fails on any of them
// when it ends, and on any failure each tab is screenshotted.
//
// Create it after the test's servers: cleanups run last-in first-out, so
// the screenshots then show the pages while their servers still run.
type browser struct {
	t      *testing.T
	ctx    context.Context // the browser; tabs are new contexts from it
	output *syncBuffer     // Chromium's own stdout and stderr
	tabs   []*tab

	mu       sync.Mutex // guards what follows; chromedp's event goroutines use it
	problems []string
	// down maps a tab's name to the WebSocket URL prefix of a server that
	// the test has stopped on purpose: see expectReconnects.
	down map[string]string
	// excused counts, per tab, the log entries that down let through.
	excused map[string]int
}

// tab is one browser tab. Its methods fail the test on error, so they must
// be called from the test's goroutine.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// newBrowser starts Chromium with chromiumFlags and a fresh profile, and
// closes it when the test ends.
func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	b := &browser{t: t, output: &syncBuffer{}, down: map[string]string{}, excused: map[string]int{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(b.output),
	}
	for _, flag := range chromiumFlags {
		opts = append(opts, chromedp.Flag(flag, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, _ := chromedp.NewContext(allocCtx) // closed by b.close
	b.ctx = ctx
	// Registered after t.TempDir, so it runs first: Chromium has exited
	// before its profile directory is removed.
	t.Cleanup(func() { b.close(cancelAlloc) })

	// The first Run starts the browser. It must not get a context with a
	// timeout: the browser would die with that context.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", chromium, err, indent(b.output.String()))
	}
	return b
}

// newTab opens a blank tab named name (used in messages and screenshot
// file names) and starts recording its problems.
func (b *browser) newTab(name string) *tab {
	b.t.Helper()
	ctx, _ := chromedp.NewContext(b.ctx) // closed with the browser
	tb := &tab{t: b.t, name: name, ctx: ctx}
	// Before the first Run, so that no event of the tab is missed.
	chromedp.ListenTarget(ctx, func(ev any) { b.recordProblem(name, ev) })
	if err := chromedp.Run(ctx); err != nil {
		b.t.Fatalf("opening tab %s: %v", name, err)
	}
	b.tabs = append(b.tabs, tb)
	return tb
}

// recordProblem keeps ev if it is an uncaught exception, a console.error
// (or failed console.assert), or an error the browser logged itself, such as
// a failed request or a refused WebSocket.
func (b *browser) recordProblem(tabName string, ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + describeException(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.APITypeError && ev.Type != runtime.APITypeAssert {
			return
		}
		problem = fmt.Sprintf("console.%s: %s", ev.Type, describeArgs(ev.Args))
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.LevelError || b.excuse(tabName, e) {
			return
		}
		problem = fmt.Sprintf("browser log (%s): %s", e.Source, e.Text)
		if e.URL != "" {
			problem += " [" + e.URL + "]"
		}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, tabName+": "+problem)
}

// expectReconnects is for a test that stops srv on purpose, to restart it,
// while tab is connected to it: the page then tries to reconnect, and
// Chromium logs each attempt that finds no server as a network error,
// "WebSocket connection to 'ws://…' failed: …". That is what a person sees
// in the console during a restart, and no fault of the page. Until the
// returned function is called, exactly those entries, for that tab and
// that server, are not problems; anything else still is. Call the function
// once the page has reconnected: entries arrive in order, so none of the
// attempts before that can come later.
func (b *browser) expectReconnects(tb *tab, srv *server) (done func()) {
	prefix := "WebSocket connection to 'ws://" + strings.TrimPrefix(srv.URL, "http://") + "/"
	b.mu.Lock()
	b.down[tb.name] = prefix
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.down, tb.name)
		n := b.excused[tb.name]
		b.excused[tb.name] = 0
		b.mu.Unlock()
		b.t.Logf("tab %s: %d failed WebSocket connections to %s while it was down, as expected", tb.name, n, srv.name)
	}
}

// excuse reports whether e is a failed WebSocket connection that
// expectReconnects expects, and counts it.
func (b *browser) excuse(tabName string, e *cdplog.Entry) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	prefix, ok := b.down[tabName]
	if !ok || e.Source != cdplog.SourceNetwork || !strings.HasPrefix(e.Text, prefix) || !strings.Contains(e.Text, "' failed: ") {
		return false
	}
	b.excused[tabName]++
	return true
}

// takeProblems returns the problems recorded so far and forgets them.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// close fails the test on any page problem and stops Chromium. If the test
// failed, it first saves what the tabs show, for a person to look at.
func (b *browser) close(cancelAlloc context.CancelFunc) {
	t := b.t
	for _, p := range b.takeProblems() {
		t.Errorf("page problem in tab %s", p)
	}
	var failureDir string
	if t.Failed() {
		failureDir = b.saveTabs()
	}
	// A graceful close lets Chromium finish writing its profile; killed,
	// its helper processes may still write there while t.TempDir removes it.
	ctx, cancel := context.WithTimeout(b.ctx, browserCloseTimeout)
	if err := chromedp.Cancel(ctx); err != nil {
		t.Logf("closing Chromium: %v", err)
	}
	cancel()
	cancelAlloc() // kills Chromium if it is still running, and waits for it
	if failureDir != "" {
		// Chromium's own output is mostly noise about the container's
		// missing D-Bus, so it goes to a file rather than into the test log.
		saveFile(t, filepath.Join(failureDir, "chromium-output.txt"), []byte(b.output.String()))
		t.Logf("screenshots and HTML of the tabs, and Chromium's output: %s", failureDir)
	}
}

// saveTabs writes a full-page PNG and the current HTML of every tab to a
// new folder that outlives the test (t.TempDir would be deleted), and
// returns the folder, or "" if it could not be made.
func (b *browser) saveTabs() string {
	t := b.t
	dir, err := os.MkdirTemp("", "e2e-"+fileName(t.Name())+"-")
	if err != nil {
		t.Logf("no screenshots: %v", err)
		return ""
	}
	for _, tb := range b.tabs {
		base := filepath.Join(dir, fileName(tb.name))
		var png []byte
		if err := tb.try(screenshotTimeout, chromedp.FullScreenshot(&png, 100)); err != nil { // quality 100: PNG
			t.Logf("no screenshot of tab %s: %v", tb.name, err)
		} else {
			saveFile(t, base+".png", png)
		}
		var html string
		if err := tb.try(screenshotTimeout, chromedp.Evaluate(`document.documentElement.outerHTML`, &html)); err != nil {
			t.Logf("no HTML of tab %s: %v", tb.name, err)
		} else {
			saveFile(t, base+".html", []byte(html))
		}
	}
	return dir
}

// saveFile writes a diagnostic file; failing to is only worth a log line.
func saveFile(t *testing.T, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("saving %s: %v", path, err)
	}
}

// unsafeFileChars are the characters fileName replaces.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName turns a test or tab name into a safe file name.
func fileName(name string) string {
	return unsafeFileChars.ReplaceAllString(name, "_")
}

// try runs actions in the tab within timeout and returns their error.
func (tb *tab) try(timeout time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// run runs actions in the tab within waitTimeout, failing the test if they
// fail; what says what they do, for the failure message.
func (tb *tab) run(what string, actions ...chromedp.Action) {
	tb.t.Helper()
	if err := tb.try(waitTimeout, actions...); err != nil {
		tb.t.Fatalf("tab %s: %s: %v", tb.name, what, err)
	}
}

// open navigates to url and waits for its load event.
func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.run("opening "+url, chromedp.Navigate(url))
}

// waitFor waits until the JavaScript function fn, called with args, returns
// a truthy value, failing the test after waitTimeout.
func (tb *tab) waitFor(what, fn string, args ...any) {
	tb.t.Helper()
	tb.run("waiting for "+what, poll(fn, args...))
}

// poll is an action that waits until the JavaScript function fn, called
// with args, returns a truthy value. It is re-evaluated on every DOM change
// rather than on a timer or animation frame, which a browser may pause in a
// tab that is not in front.
func poll(fn string, args ...any) chromedp.Action {
	return chromedp.PollFunction(fn, nil,
		chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(waitTimeout),
		chromedp.WithPollingArgs(args...),
	)
}

// eval evaluates a JavaScript expression into res (JSON-decoded).
func (tb *tab) eval(what, expr string, res any) {
	tb.t.Helper()
	tb.run(what, chromedp.Evaluate(expr, res))
}

// call calls the JavaScript function fn with args (each JSON-encoded) and
// decodes its result into res.
func (tb *tab) call(what, fn string, res any, args ...any) {
	tb.t.Helper()
	encoded := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			tb.t.Fatalf("tab %s: %s: %v", tb.name, what, err)
		}
		encoded[i] = string(b)
	}
	tb.eval(what, "("+fn+")("+strings.Join(encoded, ", ")+")", res)
}

// text returns the text of the element that the CSS selector sel matches.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.run("reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// describeException turns an uncaught exception into one line.
func describeException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	msg := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		msg += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// describeArgs turns console call arguments into text.
func describeArgs(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}
