package e2e

import (
	"strings"
	"testing"
)

// notConnectedStatus starts step 1's status line: the page has no
// WebSocket yet and says so.
const notConnectedStatus = "Not connected yet"

// TestStep1PageLoads opens step 1's page: the chat layout is there, with
// the instance it is on, the status says it is not connected, and the
// controls are disabled.
func TestStep1PageLoads(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step1)
	page := newBrowser(t, chromium).newTab("page")

	page.open(srv.URL + "/")
	page.checkInstance(srv)
	if got := page.text(statusSel); !strings.HasPrefix(got, notConnectedStatus) {
		t.Errorf("status %q, want it to start with %q", got, notConnectedStatus)
	}
	if input, button := page.disabled(); !input || !button {
		t.Errorf("step 1 cannot send, but disabled: input %v, send button %v; want both", input, button)
	}
	if got := page.messages(); len(got) != 0 {
		t.Errorf("messages %q on a fresh page, want none", got)
	}
}
