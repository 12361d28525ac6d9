// Package diskfree is the queue_minfree decision the listener, the
// delivery agent and generated mail share; each asks the file system
// itself (queue.Store's FreeSpace) and answers in its own way.
package diskfree

// Enough reports whether free bytes take a message of size bytes and
// still leave min, min and size being at least 0: free >= min+size,
// without the sum, which wraps past 2^63 (a client's SIZE= may be as big
// as an int64 holds) and would then let any message in.
func Enough(free, min, size int64) bool {
	return free >= min && free-min >= size
}

// Need is min+size for a refusal's text, exact where the int64 sum
// would wrap.
func Need(min, size int64) uint64 {
	return uint64(min) + uint64(size)
}
