package e2e

import "testing"

// TestStep2TwoTabsChat chats between two tabs on one step-2 server.
func TestStep2TwoTabsChat(t *testing.T) {
	chromium := needChromium(t)
	srv := startServer(t, step2)
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")

	alice.openChat(srv.URL + "/")
	bob.openChat(srv.URL + "/")
	chatBothWays(t, alice, bob)
}
