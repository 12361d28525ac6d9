package pipeline

import (
	"testing"
	"time"
)

// Percentiles are nearest-rank: with few samples the p99 is the largest,
// not (as (n-1)·99/100 gave) the second largest or, for two, the smallest.
func TestNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		samples  []time.Duration
		p50, p99 time.Duration
	}{
		{ms(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{ms(9, 1), 1 * time.Millisecond, 9 * time.Millisecond},
		{ms(2, 5, 1, 4, 3), 3 * time.Millisecond, 5 * time.Millisecond},
	} {
		var s stats
		for _, d := range tc.samples {
			s.record(d, "continue", false)
		}
		if _, _, _, p50, p99 := s.snapshot(); p50 != tc.p50 || p99 != tc.p99 {
			t.Errorf("%v: p50 %v p99 %v, want %v %v", tc.samples, p50, p99, tc.p50, tc.p99)
		}
	}
	// 100 samples 1..100 ms: p99 is the 99th, p50 the 50th.
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	if p50, p99 := nearestRank(hundred, 50), nearestRank(hundred, 99); p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Errorf("1..100 ms: p50 %v p99 %v", p50, p99)
	}
}
