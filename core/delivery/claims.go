package delivery

import (
	"errors"
	"sync"
)

// ErrInProgress refuses an administrator's bounce while an attempt of the
// same message runs: the attempt may deliver it, and the sender must never
// be told "failed" for mail that was delivered.
var ErrInProgress = errors.New("a delivery attempt of this message is in progress; try again when it ends")

// claims are the messages someone is working on: a delivery attempt or
// an administrator's bounce. Each message has one owner at a time, so
// the two never overlap.
type claims struct {
	mu sync.Mutex
	m  map[string]bool
}

func newClaims() *claims { return &claims{m: map[string]bool{}} }

// take claims id and reports whether it was free.
func (c *claims) take(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[id] {
		return false
	}
	c.m[id] = true
	return true
}

// held reports whether id is claimed.
func (c *claims) held(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// release ends a claim.
func (c *claims) release(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
