package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// tuneGC sets the daemon's collector defaults, and leaves alone what the
// environment sets.
func TestTuneGC(t *testing.T) {
	oldPct := debug.SetGCPercent(100)
	oldLim := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPct)
		debug.SetMemoryLimit(oldLim)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC()
	if got := debug.SetGCPercent(77); got != daemonGCPercent {
		t.Errorf("GC percent %d, want %d", got, daemonGCPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != daemonMemoryLimit {
		t.Errorf("memory limit %d, want %d", got, daemonMemoryLimit)
	}
	t.Setenv("GOGC", "77")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 77 {
		t.Errorf("GOGC set: GC percent %d, want it left at 77", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: memory limit %d, want it left alone", got)
	}
}
