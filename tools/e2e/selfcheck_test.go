package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// problemPollInterval is how often TestPageProblemsAreCaught looks at the
// problems recorded so far; they arrive from the browser asynchronously.
const problemPollInterval = 10 * time.Millisecond

// TestPageProblemsAreCaught checks the checker that the other tests rely
// on: in a page, a console.error, an uncaught exception and failed requests
// are each recorded. That includes a 404 for /favicon.ico: the pages name
// their icon inline (<link rel="icon" href="data:,">), so Chromium never
// asks for that one by itself, and a request for it is a fault like any.
func TestPageProblemsAreCaught(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step1)
	b := newBrowser(t, chromium)
	page := b.newTab("page")
	page.open(srv.URL + "/")

	page.run("making trouble", chromedp.Evaluate(`(async () => {
		await fetch("/favicon.ico");
		console.error("made-up console error");
		setTimeout(() => { throw new Error("made-up exception"); });
		await fetch("/made-up-missing-page");
	})()`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))

	want := []string{"/favicon.ico", "made-up console error", "made-up exception", "/made-up-missing-page"}
	got := b.waitProblems(t, len(want))
	for _, w := range want {
		if !containsSubstring(got, w) {
			t.Errorf("no problem recorded for %q; recorded: %q", w, got)
		}
	}
}

// TestExpectedReconnectsOnly checks expectReconnects, which a test uses
// while it restarts a server: then a failed WebSocket connection from the
// tab named, to the server named, is not a problem; from another tab, to
// another server, or once the test says the server is back, it still is.
func TestExpectedReconnectsOnly(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step1)
	b := newBrowser(t, chromium)
	page, other := b.newTab("page"), b.newTab("other")
	page.open(srv.URL + "/")
	other.open(srv.URL + "/")

	// A port where nothing listens stands in for a stopped server; the same
	// port on another loopback address, for another server.
	port := freePort(t)
	down := &server{name: "the stopped server", URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	connect := func(tb *tab, host, label string) {
		t.Helper()
		tb.run("connecting to "+host, chromedp.Evaluate(fmt.Sprintf(`new Promise((done) => {
			const ws = new WebSocket("ws://%s:%d/ws?case=%s");
			ws.onclose = done;
		})`, host, port, label), nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}))
	}

	back := b.expectReconnects(page, down)
	connect(page, "127.0.0.1", "excused")
	connect(page, "127.0.0.2", "other-server")
	connect(other, "127.0.0.1", "other-tab")
	back()
	connect(page, "127.0.0.1", "after")

	want := []string{"case=other-server", "case=other-tab", "case=after"}
	got := b.waitProblems(t, len(want))
	for _, w := range want {
		if !containsSubstring(got, w) {
			t.Errorf("no problem recorded for %q; recorded: %q", w, got)
		}
	}
	if containsSubstring(got, "case=excused") {
		t.Errorf("the expected reconnect failure was recorded: %q", got)
	}
}

// waitProblems waits until at least n problems are recorded, and takes
// them, so that the test's cleanup does not fail on them. A problem that
// arrives later still fails the test there.
func (b *browser) waitProblems(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		b.mu.Lock()
		got := len(b.problems)
		b.mu.Unlock()
		if got >= n {
			return b.takeProblems()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d problems recorded after %v, want %d: %q", got, waitTimeout, n, b.takeProblems())
		}
		time.Sleep(problemPollInterval)
	}
}

// containsSubstring reports whether any of list contains sub.
func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
