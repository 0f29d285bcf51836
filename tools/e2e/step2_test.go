package e2e

import "testing"

// TestStep2TwoTabsChat chats between two tabs on one step-2 server; each
// says which instance it is on.
func TestStep2TwoTabsChat(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step2)
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")

	alice.openChat(srv.URL+"/", "Connected")
	bob.openChat(srv.URL+"/", "Connected")
	alice.checkInstance(srv)
	chatBothWays(t, alice, bob)
}
