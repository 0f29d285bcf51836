package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every value falls in a bucket whose range contains it, and the buckets
// are in order and do not overlap.
func TestBucketBounds(t *testing.T) {
	prevHigh := int64(-1)
	for i := range numBuckets {
		if high := bucketHigh(i); high <= prevHigh {
			t.Fatalf("bucket %d ends at %d, not after bucket %d's end %d", i, high, i-1, prevHigh)
		} else {
			if got := bucketOf(prevHigh + 1); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", prevHigh+1, got, i)
			}
			if got := bucketOf(high); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", high, got, i)
			}
			prevHigh = high
		}
	}
	if prevHigh != maxTrackable {
		t.Errorf("the last bucket ends at %d, want %d", prevHigh, int64(maxTrackable))
	}
	if bucketOf(-5) != 0 || bucketOf(1<<62) != numBuckets-1 {
		t.Error("values out of range are not clamped to the first and last buckets")
	}
}

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []int64, p float64) int64 {
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	return sorted[max(rank, 1)-1]
}

// The histogram's percentiles are within its precision (1/64) of the exact
// ones, on skewed data like real latencies.
func TestPercentilesMatchSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	values := make([]int64, 100_000)
	for i := range values {
		// Log-uniform from 1µs to 1s, plus a few exact small values.
		v := int64(1000 * float64(uint64(1)<<rng.IntN(20)) * (1 + rng.Float64()))
		if i%1000 == 0 {
			v = int64(i % 50)
		}
		values[i] = v
		h.record(time.Duration(v))
	}
	slices.Sort(values)
	for _, p := range []float64{0.1, 1, 50, 90, 99, 99.9, 100} {
		want := exactPercentile(values, p)
		got := int64(h.percentile(p))
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("p%v = %d, want %d (at most 1/%d above)", p, got, want, subCount)
		}
	}
	if h.max != values[len(values)-1] || int64(h.percentile(100)) != h.max {
		t.Errorf("max %d, p100 %d, want %d", h.max, h.percentile(100), values[len(values)-1])
	}
}

func TestPercentileSmallCases(t *testing.T) {
	var h histogram
	if h.percentile(50) != 0 {
		t.Error("an empty histogram's p50 is not 0")
	}
	h.record(3 * time.Millisecond)
	for _, p := range []float64{0, 50, 99, 100} {
		if got := h.percentile(p); got != 3*time.Millisecond {
			t.Errorf("one value: p%v = %v, want 3ms (never above the max)", p, got)
		}
	}
	// 1..100 ms: p50 is the 50th value, p99 the 99th.
	var g histogram
	for i := 1; i <= 100; i++ {
		g.record(time.Duration(i) * time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond} {
		got := g.percentile(p)
		if got < want || got > want+want/subCount {
			t.Errorf("1..100ms: p%v = %v, want %v", p, got, want)
		}
	}
}

func TestMerge(t *testing.T) {
	var a, b, both histogram
	for i := range 1000 {
		v := time.Duration(i) * time.Microsecond
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
		both.record(v)
	}
	a.merge(&b)
	if a != both {
		t.Error("merging two halves differs from recording everything in one")
	}
}

// Recording is on the hot path: once per delivery.
func BenchmarkRecord(b *testing.B) {
	var h histogram
	v := time.Duration(0)
	for b.Loop() {
		v += 7919
		h.record(v % (200 * time.Millisecond))
	}
}
