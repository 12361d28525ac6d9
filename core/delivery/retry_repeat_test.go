package delivery

import (
	"testing"
	"time"
)

// TestRetryListLastEntryRepeats: SPEC's [delivery] retry, "the last one
// repeats". The harness's list is 5m, 10m, 30m: after the attempts it
// names, each further attempt waits its last entry, 30m, again.
func TestRetryListLastEntryRepeats(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	for i, wait := range []time.Duration{5 * time.Minute, 10 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		rec := h.recorded(id)
		if want := h.clock.Now().Add(wait); rec.Attempts != i+1 || !rec.NextAttempt.Equal(want) {
			t.Fatalf("after attempt %d (attempts %d): next attempt %v, want %v (+%v)", i+1, rec.Attempts, rec.NextAttempt, want, wait)
		}
		h.retryAfter(wait)
	}
}
