package dovecot

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// After a failed probe, Probe does not dial Dovecot again for
// ProbeHoldOff: while Dovecot is down, every EHLO that finds no
// mechanisms known asks for a probe, and each would dial and log.
func TestProbeHoldsOffAfterAFailure(t *testing.T) {
	var accepts atomic.Int32
	var hold atomic.Bool
	release := make(chan struct{})
	c := fakeServer(t, func(net.Conn, *bufio.Reader) {
		accepts.Add(1)
		if hold.Load() {
			<-release // a probe made now would stay under way
		}
		// Otherwise hang up at once: the handshake fails.
	})
	t.Cleanup(func() { close(release) }) // before the server's own clean-up
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	failed := make(chan error, 4)
	probe := func() { c.Probe(context.Background(), func(err error) { failed <- err }) }
	waitFailed := func() {
		t.Helper()
		select {
		case <-failed:
		case <-time.After(10 * time.Second):
			t.Fatal("the probe did not fail")
		}
		// The probe is over once its flag is down, just after the callback.
		deadline := time.Now().Add(10 * time.Second)
		for c.probing.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the probe is still under way")
			}
			runtime.Gosched()
		}
	}

	probe()
	waitFailed()
	if n := accepts.Load(); n != 1 {
		t.Fatalf("first probe: %d connections, want 1", n)
	}

	hold.Store(true)
	probe() // within the hold-off: no dial, so nothing under way
	if c.probing.Load() {
		t.Fatal("a probe started within ProbeHoldOff of a failed one")
	}

	mu.Lock()
	now = now.Add(ProbeHoldOff)
	mu.Unlock()
	hold.Store(false)
	probe()
	waitFailed()
	if n := accepts.Load(); n != 2 {
		t.Fatalf("after the hold-off: %d connections in all, want 2", n)
	}
}
