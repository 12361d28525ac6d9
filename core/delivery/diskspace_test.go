package delivery

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// fakeSpace is the queue's free space as a test sets it; every reading is
// counted and signalled, so a test knows the scheduler has looked.
type fakeSpace struct {
	free  atomic.Int64
	err   atomic.Bool
	reads atomic.Int64
	read  chan struct{}
}

// minFree is a queue_minfree that no reload changes.
func minFree(n int64) func() int64 { return func() int64 { return n } }

func newFakeSpace(free int64) *fakeSpace {
	s := &fakeSpace{read: make(chan struct{}, 1)}
	s.free.Store(free)
	return s
}

func (s *fakeSpace) FreeSpace() (int64, error) {
	defer func() {
		s.reads.Add(1)
		select {
		case s.read <- struct{}{}:
		default:
		}
	}()
	if s.err.Load() {
		return 0, errors.New("statfs: input/output error")
	}
	return s.free.Load(), nil
}

// waitReads makes the scheduler look again (Kick) until it has read the
// free space k times: every look but the last is then complete, its
// decision made and logged.
func (s *fakeSpace) waitReads(t *testing.T, h *harness, k int64) {
	t.Helper()
	deadline := time.After(waitLimit)
	for s.reads.Load() < k {
		h.agent.Kick()
		select {
		case <-s.read:
		case <-deadline:
			t.Fatalf("the scheduler read the free space %d times, want %d", s.reads.Load(), k)
		}
	}
}

// heldDue counts the scheduler's questions to any Queue (the harness's
// watchedQueue included, so recorded still sees each attempt).
type heldDue struct {
	Queue
	n atomic.Int64
}

func (q *heldDue) Due(now time.Time, limit int, skip func(id string) bool) ([]string, time.Time, error) {
	q.n.Add(1)
	return q.Queue.Due(now, limit, skip)
}

// While the queue's disk has less than queue_minfree free, delivery
// starts no attempt: it does not even ask the queue what is due, dials no
// one and writes nothing, and says so once. Once space is back it says so
// and delivers.
func TestNoAttemptWhileQueueDiskShort(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	space := newFakeSpace(999)
	h.opt.FreeSpace, h.opt.MinFree = space.FreeSpace, minFree(1000)
	logs := recordLog(h)
	id := h.enqueue(msg("sender@origin.test", "a@dest.test"))
	due := &heldDue{}
	h.startWith(func(a *Agent) { due.Queue = a.q; a.q = due })

	space.waitReads(t, h, 3)
	if n := due.n.Load(); n != 0 {
		t.Errorf("the scheduler asked the queue %d times with the disk short", n)
	}
	if n := s.connections(); n != 0 {
		t.Errorf("%d connections to the relay with the disk short", n)
	}
	if m, err := h.q.Get(id); err != nil || m.Attempts != 0 || m.Rcpts[0].Status != envelope.RcptPending {
		t.Errorf("message changed while held: %+v, %v", m, err)
	}
	l := logs.String()
	if n := strings.Count(l, "holding back"); n != 1 || !strings.Contains(l, "level=WARN") ||
		!strings.Contains(l, "free=999 queue_minfree=1000") {
		t.Errorf("want one warning with the numbers, log:\n%s", l)
	}

	space.free.Store(1000)
	h.agent.Kick()
	if got := waitMsg(t, s); got.rcpts[0] != "a@dest.test" {
		t.Errorf("delivered to %q", got.rcpts)
	}
	if m := h.recorded(id); m.Rcpts[0].Status != envelope.RcptDelivered {
		t.Errorf("recorded %+v", m.Rcpts[0])
	}
	if l := logs.String(); !strings.Contains(l, "has space again, resuming") {
		t.Errorf("no line when space is back, log:\n%s", l)
	}
}

// queue_minfree is read at each check: a reload lowering it lets a held
// agent deliver at its next look, with no new agent, as Postfix applies
// queue_minfree at postfix reload.
func TestMinFreeChangeAppliesToRunningAgent(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	space := newFakeSpace(999)
	var min atomic.Int64
	min.Store(1000)
	h.opt.FreeSpace, h.opt.MinFree = space.FreeSpace, min.Load
	id := h.enqueue(msg("sender@origin.test", "a@dest.test"))
	h.start()
	space.waitReads(t, h, 2)
	if n := s.connections(); n != 0 {
		t.Fatalf("%d connections to the relay with the disk short", n)
	}

	min.Store(999)
	h.agent.Kick()
	waitMsg(t, s)
	if m := h.recorded(id); m.Rcpts[0].Status != envelope.RcptDelivered {
		t.Errorf("recorded %+v", m.Rcpts[0])
	}
}

// A file system that cannot be asked does not stop delivery (as the
// listener lets mail in then); it is logged once. A negative MinFree
// (queue_minfree = -1) turns the check off.
func TestFreeSpaceUnknownOrCheckOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		minFree int64
		err     bool
		logged  string
	}{
		{"unknown", 1000, true, "queue free space unknown"},
		{"off", -1, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			s := h.sinkAt("127.0.0.1", sinkOptions{})
			h.opt.Config.Relay = s.addr
			space := newFakeSpace(0)
			space.err.Store(tc.err)
			h.opt.FreeSpace, h.opt.MinFree = space.FreeSpace, minFree(tc.minFree)
			logs := recordLog(h)
			id := h.enqueue(msg("sender@origin.test", "a@dest.test"))
			h.start()
			waitMsg(t, s)
			if m := h.recorded(id); m.Rcpts[0].Status != envelope.RcptDelivered {
				t.Errorf("recorded %+v", m.Rcpts[0])
			}
			l := logs.String()
			if tc.logged != "" && strings.Count(l, tc.logged) != 1 {
				t.Errorf("want one %q line, log:\n%s", tc.logged, l)
			}
			if tc.minFree < 0 && space.reads.Load() != 0 {
				t.Errorf("free space read %d times with the check off", space.reads.Load())
			}
			if strings.Contains(l, "holding back") {
				t.Errorf("held back, log:\n%s", l)
			}
		})
	}
}

// A reload turning the check off (queue_minfree = -1) during a hold ends
// it as space coming back does: the log says delivery resumed, and the
// check turned on again logs its next hold rather than holding silently.
func TestMinFreeTurnedOffEndsHold(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	space := newFakeSpace(999)
	var min atomic.Int64
	min.Store(1000)
	h.opt.FreeSpace, h.opt.MinFree = space.FreeSpace, min.Load
	logs := recordLog(h)
	h.enqueue(msg("sender@origin.test", "a@dest.test"))
	h.start()
	space.waitReads(t, h, 2)

	min.Store(-1)
	h.agent.Kick()
	waitMsg(t, s)
	if l := logs.String(); !strings.Contains(l, "queue_minfree is off, resuming") {
		t.Errorf("no line when the check was turned off, log:\n%s", l)
	}

	min.Store(1000)
	reads := space.reads.Load()
	h.enqueue(msg("sender@origin.test", "b@dest.test"))
	space.waitReads(t, h, reads+2)
	if n := len(s.messages()); n != 1 {
		t.Errorf("%d messages delivered, want 1 (the second held)", n)
	}
	if l := logs.String(); strings.Count(l, "holding back") != 2 {
		t.Errorf("want the second hold logged too, log:\n%s", l)
	}
}
