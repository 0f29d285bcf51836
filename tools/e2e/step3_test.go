package e2e

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// subscriberPollInterval is how often waitSubscribers asks miniredis.
const subscriberPollInterval = 10 * time.Millisecond

// TestStep3TwoInstancesShareRedis runs two step-3 servers on two ports that
// share one Redis, with a tab on each: messages cross between them both ways.
func TestStep3TwoInstancesShareRedis(t *testing.T) {
	skipUnlessPresent(t, step3)
	chromium := needChromium(t)
	redis := miniredis.RunT(t)
	redisURL := "REDIS_URL=redis://" + redis.Addr()
	one := startServer(t, step3, redisURL)
	two := startServer(t, step3, redisURL)
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")

	alice.openChat(one.URL + "/")
	bob.openChat(two.URL + "/")
	waitSubscribers(t, redis, 2)
	chatBothWays(t, alice, bob)
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
