package sdk

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// WithCallTimeout is context.WithTimeout for one call to a plugin, made
// cheap for the direct channel. That channel needs no timer: it reads the
// deadline and sets it on its socket, whose read then fails when the time
// is up. So until something calls the context's Done or Value, it is only
// a deadline and its parent, with no timer and no registration with the
// parent. The first Done or Value turns it into a context.WithDeadline,
// so on any other transport, or in a stage that waits on it, it behaves
// as context.WithTimeout would. Call the CancelFunc when the call is over.
func WithCallTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c := &callCtx{parent: parent, deadline: time.Now().Add(d)}
	return c, c.cancel
}

// callCtx is WithCallTimeout's context.
type callCtx struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	timed    atomic.Pointer[context.Context] // set once by start
	stop     context.CancelFunc              // timed's; guarded by mu
	canceled atomic.Bool                     // set under mu
}

// Deadline is the earlier of the call's deadline and the parent's.
func (c *callCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done starts the timer, if it is not running, and returns its channel.
func (c *callCtx) Done() <-chan struct{} { return c.start().Done() }

// Err is checked without a timer: the parent's error, Canceled once
// cancelled, or DeadlineExceeded once the deadline has passed.
func (c *callCtx) Err() error {
	if t := c.timed.Load(); t != nil {
		return (*t).Err()
	}
	if c.canceled.Load() {
		return context.Canceled
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value starts the timer, so that the context package, which finds a
// parent's cancellation through Value, and context.Cause see a real one.
func (c *callCtx) Value(key any) any { return c.start().Value(key) }

// untimed returns the parent and the deadline while no timer runs, for
// the direct channel to enforce the deadline itself; ok is false once
// the context is a real one.
func (c *callCtx) untimed() (parent context.Context, deadline time.Time, ok bool) {
	if c.timed.Load() != nil {
		return nil, time.Time{}, false
	}
	d, _ := c.Deadline()
	return c.parent, d, true
}

func (c *callCtx) start() context.Context {
	if t := c.timed.Load(); t != nil {
		return *t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timed.Load(); t != nil {
		return *t
	}
	t, stop := context.WithDeadline(c.parent, c.deadline)
	if c.canceled.Load() {
		stop()
	}
	c.stop = stop
	c.timed.Store(&t)
	return t
}

func (c *callCtx) cancel() {
	c.mu.Lock()
	c.canceled.Store(true)
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (c *callCtx) String() string { return "sdk.WithCallTimeout" }
