package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The chat page's elements, the same from step 1 on: the status line, the
// message input and the send button. (The JavaScript snippets below name
// them, and the #messages list, directly.)
const (
	statusSel = "#status"
	inputSel  = "#text"
	sendSel   = "#send"
)

// xssProbe is a message that runs script if a page renders messages as HTML:
// the image fails to load and its onerror handler sets window.__xss.
const xssProbe = `<img src=x onerror="window.__xss=1">`

// disabled reports whether the message input and the send button are
// disabled.
func (tb *tab) disabled() (input, button bool) {
	tb.t.Helper()
	var r struct{ Input, Button bool }
	tb.eval("reading the controls' state", `({
		Input: document.querySelector("#text").disabled,
		Button: document.querySelector("#send").disabled,
	})`, &r)
	return r.Input, r.Button
}

// openChat opens a chat page and waits until its status line says want,
// or that it gave up: a page that cannot connect says "Disconnected…" at
// once, so the test fails fast with what the page shows. A connected page
// has its input and button enabled.
func (tb *tab) openChat(url, want string) {
	tb.t.Helper()
	tb.open(url)
	tb.waitStatus(want)
	if input, button := tb.disabled(); input || button {
		tb.t.Errorf("tab %s: connected, but disabled: input %v, send button %v", tb.name, input, button)
	}
}

// waitStatus waits until the status line says want, and fails the test if
// it says "Disconnected…" first, or neither in time.
func (tb *tab) waitStatus(want string) {
	tb.t.Helper()
	err := tb.try(waitTimeout, poll(`(want) => {
		const status = document.querySelector("#status").textContent;
		return status === want || status.startsWith("Disconnected");
	}`, want))
	if got := tb.text(statusSel); err != nil || got != want {
		tb.t.Fatalf("tab %s: status %q, want %q", tb.name, got, want)
	}
}

// checkInstance fails the test unless the page says, near its title,
// which instance it is: srv's address, with its port.
func (tb *tab) checkInstance(srv *server) {
	tb.t.Helper()
	want := "on " + strings.TrimPrefix(srv.URL, "http://")
	if got := tb.text("#instance"); got != want {
		tb.t.Errorf("tab %s: #instance says %q, want %q", tb.name, got, want)
	}
}

// waitMarked waits until the last message of the list has an
// element that the CSS selector sel matches, and returns its text.
func (tb *tab) waitMarked(what, sel string) string {
	tb.t.Helper()
	tb.waitFor(what, `(sel) => {
		const last = document.querySelector("#messages li:last-child");
		return last && last.querySelector(sel) !== null;
	}`, sel)
	var text string
	tb.call("reading "+what, `(sel) => document.querySelector("#messages li:last-child").querySelector(sel).textContent`, &text, sel)
	return text
}

// send types msg into the input and clicks Send, as a user would, and waits
// until the page has emptied the input, which it does once the message is
// handed to the WebSocket.
func (tb *tab) send(msg string) {
	tb.t.Helper()
	tb.run("typing and sending "+msg,
		chromedp.SendKeys(inputSel, msg, chromedp.ByQuery),
		chromedp.Click(sendSel, chromedp.ByQuery),
	)
	tb.waitFor("the input to empty after sending",
		`() => document.querySelector("#text").value === ""`)
}

// waitMessages waits until the tab shows at least n messages, and returns
// the text of all of them. If they do not come, the test fails with what
// the tab shows.
func (tb *tab) waitMessages(n int) []string {
	tb.t.Helper()
	err := tb.try(waitTimeout, poll(`(n) => document.querySelectorAll("#messages li").length >= n`, n))
	got := tb.messages()
	if err != nil {
		tb.t.Fatalf("tab %s: waiting for %d messages: %v; it shows %q", tb.name, n, err, got)
	}
	return got
}

// messages returns the text of every message shown, in order: in step 3's
// page, the text without the instance it came through (span.text).
func (tb *tab) messages() []string {
	tb.t.Helper()
	var texts []string
	tb.eval("reading the messages", `Array.from(document.querySelectorAll("#messages li"),
		(li) => (li.querySelector("span.text") || li).textContent)`, &texts)
	return texts
}

// messageMarkup selects, in the chat pages of steps 1 to 3, any element
// inside a message where the page puts only text: anything but step 3's
// span.text and span.via, and anything inside those.
const messageMarkup = "#messages li > :not(span.text):not(span.via), #messages li span *"

// checkNoXSS fails the test if xssProbe became markup in the page: an img
// anywhere (no page has images), an element that markup (a CSS selector)
// matches where the page puts only text, or the probe's handler having
// run. Without an img element there is nothing whose onerror could still
// fire later, so checking once is enough.
func (tb *tab) checkNoXSS(markup string) {
	tb.t.Helper()
	var r struct {
		Images   int  `json:"images"`
		Elements int  `json:"elements"`
		Ran      bool `json:"ran"`
	}
	tb.call("looking for injected markup", `(markup) => ({
		images: document.querySelectorAll("img").length,
		elements: document.querySelectorAll(markup).length,
		ran: window.__xss !== undefined,
	})`, &r, markup)
	if r.Images > 0 || r.Elements > 0 {
		tb.t.Errorf("tab %s: a message became markup: %d img, and %d elements matching %q", tb.name, r.Images, r.Elements, markup)
	}
	if r.Ran {
		tb.t.Errorf("tab %s: a message ran script: window.__xss is set", tb.name)
	}
}

// chatBothWays is the user flow of steps 2 and 3 between two connected chat
// tabs, on one server or on two: a message from each tab reaches both, the
// sender included, exactly once and in order, and a message that looks
// like HTML shows as the text that was typed.
func chatBothWays(t *testing.T, a, b *tab) {
	t.Helper()
	sent := []struct {
		from *tab
		text string
	}{
		{a, "hello from " + a.name},
		{b, "hi from " + b.name + ", naïve café ✓"},
		{a, xssProbe},
	}
	var want []string
send:
	for _, m := range sent {
		m.from.send(m.text)
		want = append(want, m.text)
		// Both tabs must show every message so far before the next one is
		// sent, so the order is fixed and a lost, altered or doubled
		// message shows at once.
		for _, tb := range []*tab{a, b} {
			if got := tb.waitMessages(len(want)); !slices.Equal(got, want) {
				t.Errorf("tab %s shows %q, want %q", tb.name, got, want)
				break send
			}
		}
	}
	a.checkNoXSS(messageMarkup)
	b.checkNoXSS(messageMarkup)
}
