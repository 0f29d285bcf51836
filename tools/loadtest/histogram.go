package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts latencies in fixed buckets, the way HdrHistogram does:
// exact below 2^subBits nanoseconds, and above that each power of two is cut
// into 2^subBits equal buckets. Recording is a few instructions and no
// allocation, and a percentile is off by less than 1/2^subBits (1.6%).
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    int64 // exact, not rounded to a bucket
}

const (
	// subBits sets the precision: 64 buckets per power of two keep every
	// reported percentile within 1.6% of the true value.
	subBits  = 6
	subCount = 1 << subBits

	// maxTrackable is the largest latency with a bucket of its own (about
	// 18 minutes); longer ones are counted in the last bucket. A run lasts
	// seconds, so only a broken clock gets there.
	maxTrackable = 1<<40 - 1

	numBuckets = (40-subBits)*subCount + subCount
)

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v int64) int {
	if v < subCount {
		return int(max(v, 0)) // a negative latency is a clock step: count it as 0
	}
	v = min(v, maxTrackable)
	shift := bits.Len64(uint64(v)) - subBits - 1
	return shift<<subBits + int(v>>shift)
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i>>subBits - 1
	sub := int64(i - shift<<subBits) // in [subCount, 2*subCount)
	return (sub+1)<<shift - 1
}

func (h *histogram) record(v time.Duration) {
	n := int64(v)
	h.counts[bucketOf(n)]++
	h.total++
	if n > h.max {
		h.max = n
	}
}

// merge adds o's counts to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// percentile returns the latency that p percent of the recorded ones do not
// exceed (nearest rank), as the top of its bucket but never above the
// maximum; 0 if nothing was recorded.
func (h *histogram) percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max) // not reached: the counts add up to total
}
