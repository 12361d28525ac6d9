package main

import (
	"os"
	"runtime/debug"
)

// The daemon's heap is mostly garbage of a few kilobytes per message (its
// live part is the queue index and session state), so with Go's default
// GOGC=100 the collector ran every few hundred messages: 15% of the CPU at
// 1,000 msg/s. A higher GOGC collects a fifth as often; the soft limit
// bounds what that costs in memory, the collector working harder only
// once the heap nears it. GOGC and GOMEMLIMIT in the environment win.
const (
	daemonGCPercent   = 400
	daemonMemoryLimit = 192 << 20
)

// tuneGC applies the daemon's collector settings.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(daemonMemoryLimit)
	}
}
