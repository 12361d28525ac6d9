package delivery

import (
	"testing"
)

// A domain resumed while an attempt of a message with recipients in it
// is under way (its other destination slow): the resume makes the
// domain's mail due at once, and the attempt's record, which comes
// after, must not push the recipients it left untried back by a retry
// delay.
func TestResumeDuringAttemptKeepsMailDue(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	one := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
	two := h.sinkAt("127.0.0.3", sinkOptions{})
	s := NewSuspensions(SuspensionOptions{Clock: h.clock.Now, Logger: h.opt.Logger, Ended: func(d string) {
		if _, err := h.q.Store.FlushDomain(d, nil); err != nil {
			t.Error(err)
		}
	}})
	h.opt.Suspensions = s
	if _, err := s.Suspend("two.test", 0, ""); err != nil {
		t.Fatal(err)
	}
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@one.test", "b@two.test"))
	waitInData(t, one)
	if ok, err := s.Resume("two.test"); !ok || err != nil {
		t.Fatalf("resume: %v %v", ok, err)
	}
	close(gate)
	waitMsg(t, one)
	waitMsg(t, two) // at once: the clock does not move
	h.waitIdle(id)
	if !h.gone(id) {
		t.Error("message still queued after both recipients were delivered")
	}
}
