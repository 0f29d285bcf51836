//go:build unix

package tutorialcheck

// The browser, found and started as tools/e2e does (browser_test.go there;
// copied, not imported: each tool stands alone).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// defaultChromium is where Debian's chromium package installs its launcher.
	defaultChromium = "/usr/bin/chromium"

	// chromiumEnv names another browser binary to use (any Chromium or Chrome).
	chromiumEnv = "CHROMIUM"

	// browserCloseTimeout bounds the graceful close of Chromium, after
	// which it is killed.
	browserCloseTimeout = 5 * time.Second
)

// chromiumFlags are tools/e2e's: headless, no sandbox (root in a
// container), no GPU, and no traffic of Chromium's own.
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

// browser is one headless Chromium for the whole transcript, with the
// tabs that the tutorial has opened.
type browser struct {
	ctx    context.Context
	cancel func() // closes the browser
	tabs   []*tab
}

// tab is one tab, open on url.
type tab struct {
	url    string
	ctx    context.Context
	cancel context.CancelFunc // closes the tab
}

// newBrowser starts Chromium with a fresh profile in profileDir.
func newBrowser(chromium, profileDir string) (*browser, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profileDir),
	}
	for _, flag := range chromiumFlags {
		opts = append(opts, chromedp.Flag(flag, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, _ := chromedp.NewContext(allocCtx) // closed by cancel
	b := &browser{ctx: ctx}
	b.cancel = func() {
		// Gracefully, so that Chromium has stopped writing to its profile
		// before the profile is removed; then killed if need be.
		cctx, cancel := context.WithTimeout(ctx, browserCloseTimeout)
		chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
	}
	// The first Run starts the browser; its context must have no timeout.
	if err := chromedp.Run(ctx); err != nil {
		b.cancel()
		return nil, fmt.Errorf("starting %s: %v", chromium, err)
	}
	return b, nil
}

// open opens a new tab on url and waits for the page to load.
func (b *browser) open(url string, timeout time.Duration) (*tab, error) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb := &tab{url: url, ctx: ctx, cancel: cancel}
	b.tabs = append(b.tabs, tb)
	// The first Run opens the tab; with a timeout, the tab would close
	// when the timeout's context ends.
	if err := chromedp.Run(ctx); err != nil {
		return tb, err
	}
	return tb, tb.run(timeout, chromedp.Navigate(url))
}

// on returns the tabs open on url, first opened first.
func (b *browser) on(url string) []*tab {
	var tabs []*tab
	for _, tb := range b.tabs {
		if tb.url == url {
			tabs = append(tabs, tb)
		}
	}
	return tabs
}

// closeTabs closes every tab: a new chapter starts with none.
func (b *browser) closeTabs() {
	for _, tb := range b.tabs {
		tb.cancel()
	}
	b.tabs = nil
}

// run runs actions in the tab, within timeout.
func (tb *tab) run(timeout time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// text is what the page shows: its body's innerText, which leaves out
// what is hidden and what CSS adds.
func (tb *tab) text(timeout time.Duration) (string, error) {
	var s string
	err := tb.run(timeout, chromedp.Evaluate(`document.body.innerText`, &s))
	return s, err
}

// waitChange waits until the page's text is no longer prev, watching the
// DOM for changes rather than polling on a timer.
func (tb *tab) waitChange(prev string, timeout time.Duration) error {
	return tb.run(timeout, chromedp.PollFunction(`(prev) => document.body.innerText !== prev`, nil,
		chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingArgs(prev),
	))
}

// ready waits until the element that sel selects exists and is enabled,
// as a student waits for a field to be usable before typing in it.
func (tb *tab) ready(sel string, timeout time.Duration) error {
	return tb.run(timeout, chromedp.PollFunction(`(sel) => { const el = document.querySelector(sel); return el !== null && !el.disabled; }`, nil,
		chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingArgs(sel),
	))
}

// typeIn types text into the field sel and presses Enter: its form is
// submitted as a student's Enter submits it, with the page's own handler.
func (tb *tab) typeIn(sel, text string, timeout time.Duration) error {
	if err := tb.ready(sel, timeout); err != nil {
		return fmt.Errorf("waiting for %s to be there and enabled: %v", sel, err)
	}
	return tb.run(timeout, chromedp.Evaluate(fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		el.focus();
		el.value = %s;
		el.form.requestSubmit();
	})()`, quoteJS(sel), quoteJS(text)), nil))
}

// click clicks the element sel once it is there and enabled.
func (tb *tab) click(sel string, timeout time.Duration) error {
	if err := tb.ready(sel, timeout); err != nil {
		return fmt.Errorf("waiting for %s to be there and enabled: %v", sel, err)
	}
	return tb.run(timeout, chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%s).click()`, quoteJS(sel)), nil))
}

// console runs code as typed in the page's developer console.
func (tb *tab) console(code string, timeout time.Duration) error {
	return tb.run(timeout, chromedp.Evaluate(code, nil))
}

// quoteJS makes s a JavaScript string literal.
func quoteJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
