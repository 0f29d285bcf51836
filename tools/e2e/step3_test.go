package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// subscriberPollInterval is how often waitSubscribers asks miniredis.
const subscriberPollInterval = 10 * time.Millisecond

// TestStep3TwoInstancesShareRedis runs two step-3 servers on two ports that
// share one Redis, with a tab on each: messages cross between them both
// ways, and each tab shows which instance a message came through when it
// is not its own. When Redis goes away, both tabs say so, and a message
// sent meanwhile gets a notice that looks like no chat message.
func TestStep3TwoInstancesShareRedis(t *testing.T) {
	skipUnlessPresent(t, step3)
	chromium := needChromium(t)
	redis := miniredis.RunT(t)
	redisURL := "REDIS_URL=redis://" + redis.Addr()
	one := startServer(t, step3, redisURL)
	two := startServer(t, step3, redisURL)
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")

	alice.openChat(one.URL+"/", redisUp)
	bob.openChat(two.URL+"/", redisUp)
	alice.checkInstance(one)
	bob.checkInstance(two)
	waitSubscribers(t, redis, 2)
	// Junk that anyone can publish to Redis breaks no page (a page problem
	// fails the test): a browser drops its connection on invalid UTF-8.
	redis.Publish("chat", "\xff\xfe")
	chatBothWays(t, alice, bob)

	// The last message came from alice, through her instance, one.
	if got, want := bob.waitMarked("the instance of alice's message", "span.via"), "via :"+port(one); got != want {
		t.Errorf("tab bob: alice's message says %q, want %q", got, want)
	}
	if alice.hasLastMarked("span.via") {
		t.Errorf("tab alice: her own message says through which instance it came")
	}

	redis.Close()
	alice.waitStatus(redisDown)
	bob.waitStatus(redisDown)
	alice.send("while Redis is down")
	alice.waitFor("the notice", `() => document.querySelector("#messages li:last-child.notice") !== null`)
	if got := alice.text("#messages li:last-child"); !strings.Contains(got, "not sent") {
		t.Errorf("tab alice: notice %q, want it to say the message was not sent", got)
	}
	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	alice.waitStatus(redisUp)
	bob.waitStatus(redisUp)
}

// Step 3's status line, with Redis up and down.
const (
	redisUp   = "Connected · Redis up"
	redisDown = "Connected · Redis down: messages are not sent until it is back"
)

// port returns srv's port.
func port(srv *server) string { return fmt.Sprint(srv.port) }

// hasLastMarked reports whether the last message has an element that the
// CSS selector sel matches.
func (tb *tab) hasLastMarked(sel string) bool {
	tb.t.Helper()
	var found bool
	tb.call("looking at the last message", `(sel) => {
		const last = document.querySelector("#messages li:last-child");
		return last !== null && last.querySelector(sel) !== null;
	}`, &found, sel)
	return found
}

// waitSubscribers waits until Redis has at least n subscriptions, channels
// and patterns together, whatever their names. A server answers HTTP as
// soon as it listens, and may subscribe a moment later; a person is never
// that fast, but the test is, and a message published before the other
// instance subscribed would be lost.
func waitSubscribers(t *testing.T, redis *miniredis.Miniredis, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := redis.PubSubNumPat()
		for _, count := range redis.PubSubNumSub(redis.PubSubChannels("")...) {
			got += count
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis has %d subscriptions after %v, want at least %d", got, waitTimeout, n)
		}
		time.Sleep(subscriberPollInterval)
	}
}
