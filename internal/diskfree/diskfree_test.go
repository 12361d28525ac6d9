package diskfree

import (
	"math"
	"testing"
)

func TestEnough(t *testing.T) {
	for _, tc := range []struct {
		free, min, size int64
		want            bool
	}{
		{free: 1000, min: 900, size: 100, want: true},
		{free: 999, min: 900, size: 100, want: false},
		{free: 899, min: 900, size: 0, want: false},
		{free: 900, min: 900, size: 0, want: true},
		{free: 0, min: 0, size: 0, want: true},
		// min+size wraps to a negative number: the naive free < min+size
		// lets these in.
		{free: 1 << 30, min: 1 << 20, size: math.MaxInt64, want: false},
		{free: math.MaxInt64, min: 1, size: math.MaxInt64, want: false},
		{free: math.MaxInt64, min: math.MaxInt64, size: 1, want: false},
		{free: math.MaxInt64, min: 1, size: math.MaxInt64 - 1, want: true},
		{free: math.MaxInt64, min: 0, size: math.MaxInt64, want: true},
	} {
		if got := Enough(tc.free, tc.min, tc.size); got != tc.want {
			t.Errorf("Enough(%d, %d, %d) = %v, want %v", tc.free, tc.min, tc.size, got, tc.want)
		}
	}
}

func TestNeed(t *testing.T) {
	if got, want := Need(1<<20, math.MaxInt64), uint64(math.MaxInt64)+1<<20; got != want {
		t.Errorf("Need = %d, want %d", got, want)
	}
	if got := Need(900, 100); got != 1000 {
		t.Errorf("Need = %d, want 1000", got)
	}
}
