package main

// This file paces how fast the server reads from one client; a first read
// can skip it. Unpaced, a script that sends a thousand messages at once
// would fill the other clients' queues faster than their writers empty
// them, and get them all dropped as too slow. A person never notices it.

import "time"

// clientLimit lets a client send burst messages at once, then perSecond.
// The burst is small, so that ten flooding clients still fit in one queue
// (sendQueueSize); the rate is above the load test's 100 a second per client.
var clientLimit = rate{burst: 5, perSecond: 200}

type rate struct{ burst, perSecond float64 }

// limiter is a token bucket: burst tokens at most, perSecond more a second.
type limiter struct {
	rate
	tokens float64
	last   time.Time
}

func newLimiter() *limiter { return &limiter{clientLimit, clientLimit.burst, time.Now()} }

// wait takes a token, first sleeping until there is one.
func (l *limiter) wait() {
	for {
		now := time.Now()
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.perSecond)
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			return
		}
		time.Sleep(time.Duration((1 - l.tokens) / l.perSecond * float64(time.Second)))
	}
}
