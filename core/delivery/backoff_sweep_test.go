package delivery

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// TestBackoffsForgetOldDestinations: every destination that ever failed
// stayed in the table for the life of the process.
func TestBackoffsForgetOldDestinations(t *testing.T) {
	b := newBackoffs()
	opt := Routing{BackoffAfter: 5, Backoff: time.Minute, BackoffMax: time.Hour}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := map[string]outcome{"u@x": {status: envelope.RcptPending}}
	for i := 0; i < 3*backoffSweepEvery; i++ {
		b.record(fmt.Sprintf("dead%d.example", i), now, res, true, false, opt)
		now = now.Add(time.Minute) // one new dead domain a minute
	}
	if n := len(b.m); n > backoffSweepEvery+int(opt.forgetAfter()/time.Minute)+1 {
		t.Errorf("%d destinations remembered, want those of the last %s only", n, opt.forgetAfter())
	}
	// A destination failing now keeps counting towards its backoff.
	for i := 0; i < 4; i++ {
		b.record("busy.example", now, res, true, false, opt)
	}
	if until := b.record("busy.example", now, res, true, false, opt); until.IsZero() {
		t.Error("5th failure in a row started no backoff")
	}
}
