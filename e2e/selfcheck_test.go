package e2e

import (
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
// on: in a page, a console.error, an uncaught exception and a failed request
// are each recorded, and the favicon miss is not.
func TestPageProblemsAreCaught(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step1)
	b := newBrowser(t, chromium)
	page := b.newTab("page")
	page.open(srv.URL + "/")

	// The favicon request first, awaited, so that its log entry comes
	// before the others.
	page.run("making trouble", chromedp.Evaluate(`(async () => {
		await fetch("/favicon.ico");
		console.error("made-up console error");
		setTimeout(() => { throw new Error("made-up exception"); });
		await fetch("/made-up-missing-page");
	})()`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))

	want := []string{"made-up console error", "made-up exception", "/made-up-missing-page"}
	got := b.waitProblems(t, len(want))
	for _, w := range want {
		if !containsSubstring(got, w) {
			t.Errorf("no problem recorded for %q; recorded: %q", w, got)
		}
	}
	if containsSubstring(got, "favicon.ico") {
		t.Errorf("the favicon miss was recorded: %q", got)
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
