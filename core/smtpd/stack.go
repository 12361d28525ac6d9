package smtpd

// A session's goroutine runs deep call chains (go-smtp, the pipeline, a
// plugin call, the queue's commit) on a stack that starts small, so every
// new connection paid for the stack to be copied to twice its size several
// times over, each copy longer than the last: with one message per
// connection and a few pipeline stages, 4% of the daemon's CPU. Growing
// it once, at the first HELO while it is shallow, costs one short copy.
// The runtime shrinks an idle session's stack again at garbage collection.

// sessionStack is the stack a session starts its work with.
const sessionStack = 32 << 10

// growStack makes the calling goroutine's stack at least sessionStack.
//
//go:noinline
func growStack() byte {
	// Its frame, with the caller's, must fit: the runtime doubles the
	// stack until it does.
	var frame [sessionStack * 3 / 4]byte
	return touchLast(frame[:])
}

// touchLast keeps frame alive, so the compiler cannot drop it.
//
//go:noinline
func touchLast(b []byte) byte { return b[len(b)-1] }
