package delivery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrInProgress refuses an administrator's bounce while an attempt of the
// same message runs on past bounceWait: the attempt may deliver it, and the
// sender must never be told "failed" for mail that was delivered.
var ErrInProgress = errors.New("a delivery attempt of this message is in progress; try again when it ends")

// bounceWait is how long a bounce waits for an attempt of its message to
// end before it is refused with ErrInProgress.
const bounceWait = 10 * time.Second

// claims are the messages someone is working on: a delivery attempt or
// an administrator's bounce. Each message has one owner at a time, so
// the two never overlap.
type claims struct {
	mu sync.Mutex
	m  map[string]chan struct{} // closed when the claim ends
}

func newClaims() *claims { return &claims{m: map[string]chan struct{}{}} }

// take claims id and reports whether it was free.
func (c *claims) take(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.m[id]; busy {
		return false
	}
	c.m[id] = make(chan struct{})
	return true
}

// wait claims id once it is free, waiting at most d (or until ctx ends).
func (c *claims) wait(ctx context.Context, id string, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ch, busy := c.m[id]
		if !busy {
			c.m[id] = make(chan struct{})
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// held reports whether id is claimed.
func (c *claims) held(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, busy := c.m[id]
	return busy
}

// release ends a claim.
func (c *claims) release(id string) {
	c.mu.Lock()
	if ch, ok := c.m[id]; ok {
		close(ch)
		delete(c.m, id)
	}
	c.mu.Unlock()
}
