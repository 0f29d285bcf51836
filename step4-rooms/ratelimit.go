package main

// This file paces how fast the server reads from one client. A first read
// can skip it: a person typing never comes near the limit, and nothing is
// ever refused. It is here for a script that sends a thousand messages at
// once. Unpaced, that client's reader would fill every other client's
// queue (sendQueueSize) faster than their writers could empty it, and get
// them all disconnected as too slow. Paced, the flooder waits between
// messages, which lets the writers run; its messages all arrive, later.

import "time"

// clientLimit is how fast one client may send: burst messages at once,
// then perSecond. The burst is what keeps a flood from filling the queues,
// so it is small: ten clients sending all they may at once still fit in
// one queue. The rate is generous: the load test sends at most 100
// messages a second per client. A variable, so that benchmarks can lift it.
var clientLimit = rate{burst: 5, perSecond: 200}

type rate struct{ burst, perSecond float64 }

// limiter is a token bucket: it holds up to burst tokens, gains perSecond
// tokens a second, and each message takes one.
type limiter struct {
	rate
	tokens float64
	last   time.Time // when tokens was last topped up
}

// newLimiter returns a full bucket with the settings clientLimit has now.
func newLimiter() *limiter {
	return &limiter{rate: clientLimit, tokens: clientLimit.burst, last: time.Now()}
}

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
