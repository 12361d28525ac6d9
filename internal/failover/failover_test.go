package failover

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the list's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dead is a unix socket endpoint nothing listens at: connecting to it
// fails at once.
func dead(t *testing.T, name string) Endpoint {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	return Endpoint{Spec: "unix:" + path, Network: "unix", Address: path}
}

// live is a loopback endpoint that accepts connections.
func live(t *testing.T) Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return Endpoint{Spec: ln.Addr().String(), Network: "tcp", Address: ln.Addr().String()}
}

func newList(clock *fakeClock, eps ...Endpoint) *List {
	l := New("clamd", "socket", eps)
	l.Now = clock.Now
	return l
}

func dial(t *testing.T, l *List) (Endpoint, error) {
	t.Helper()
	c, e, err := l.Dial(context.Background(), nil)
	if err == nil {
		c.Close()
	}
	return e, err
}

// TestDialFirstThatAccepts: a dead endpoint moves the dial to the next,
// and goes to the back of the order for Pause, then comes first again.
func TestDialFirstThatAccepts(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	a, b := dead(t, "a.sock"), live(t)
	l := newList(clock, a, b)
	if e, err := dial(t, l); err != nil || e != b {
		t.Fatalf("Dial = %+v, %v; want %+v", e, err, b)
	}
	if got := l.order(); !reflect.DeepEqual(got, []int{1, 0}) {
		t.Fatalf("order within the pause = %v, want [1 0]", got)
	}
	clock.Add(Pause - time.Second)
	if got := l.order(); !reflect.DeepEqual(got, []int{1, 0}) {
		t.Fatalf("order a second before the pause ends = %v, want [1 0]", got)
	}
	clock.Add(time.Second)
	if got := l.order(); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("order after the pause = %v, want [0 1]", got)
	}
}

// TestPausedKeepOrder: paused endpoints come after the live ones, in
// their configured order among themselves.
func TestPausedKeepOrder(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newList(clock, dead(t, "a"), dead(t, "b"), dead(t, "c"), dead(t, "d"))
	l.mark(2, true)
	l.mark(0, true)
	if got := l.order(); !reflect.DeepEqual(got, []int{1, 3, 0, 2}) {
		t.Fatalf("order = %v, want [1 3 0 2]", got)
	}
	l.mark(2, false) // connected again: its pause ends at once
	if got := l.order(); !reflect.DeepEqual(got, []int{1, 2, 3, 0}) {
		t.Fatalf("order = %v, want [1 2 3 0]", got)
	}
}

// TestAllPausedTried: when every endpoint is in its pause they are all
// tried still, so that a lone server restarted is used at once.
func TestAllPausedTried(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	b := live(t)
	l := newList(clock, dead(t, "a.sock"), b)
	l.mark(0, true)
	l.mark(1, true)
	if e, err := dial(t, l); err != nil || e != b {
		t.Fatalf("Dial = %+v, %v; want %+v", e, err, b)
	}
	if got := l.order(); !reflect.DeepEqual(got, []int{1, 0}) {
		t.Fatalf("order = %v, want [1 0]: the one connected to is no longer paused", got)
	}
}

// TestDialErrors: with none to connect to, the error names each
// endpoint, through explain; a lone endpoint's reads as one server's.
func TestDialErrors(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	a, b := dead(t, "a.sock"), dead(t, "b.sock")
	explain := func(error) error { return errors.New("explained") }
	_, _, err := newList(clock, a, b).Dial(context.Background(), explain)
	want := "clamd: no socket could be connected to: " + a.Spec + ": explained; " + b.Spec + ": explained"
	if err == nil || err.Error() != want {
		t.Fatalf("Dial error %v, want %q", err, want)
	}
	_, _, err = New("spamd", "address", []Endpoint{a}).Dial(context.Background(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "spamd "+a.Spec+": dial unix ") {
		t.Fatalf("Dial error %v, want spamd %s: dial unix ...", err, a.Spec)
	}
}

// TestEndedCallNotPaused: a call that has ended stops the tries and
// pauses nothing: the endpoint was not found dead, the caller gave up.
func TestEndedCallNotPaused(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	a, b := live(t), live(t)
	l := newList(clock, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := l.Dial(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), a.Spec) || strings.Contains(err.Error(), b.Spec) {
		t.Fatalf("Dial error %v, want one naming %s only", err, a.Spec)
	}
	if got := l.order(); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("order = %v, want [0 1]", got)
	}
}
