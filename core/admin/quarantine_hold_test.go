package admin

import (
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// POST hold on a quarantined message leaves it quarantined, and a release
// then is a release from quarantine (Released: a stage's quarantine at the
// deliver hook no longer sets it aside). Held, it lost that: released, it
// was quarantined again at its next attempt, and again after every
// release.
func TestHoldKeepsQuarantine(t *testing.T) {
	srv, q, _ := setup(t, "")
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org", State: envelope.StateQuarantined,
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+m.ID+"/hold", ""); code != 200 {
		t.Fatalf("hold of a quarantined message: %d %s", code, body)
	}
	got, err := q.Get(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != envelope.StateQuarantined {
		t.Errorf("after hold, a quarantined message is %s", got.State)
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/"+m.ID+"/release", ""); code != 200 {
		t.Fatalf("release: %d %s", code, body)
	}
	if got, err = q.Get(m.ID); err != nil {
		t.Fatal(err)
	}
	if got.State != envelope.StateActive || !got.Released {
		t.Errorf("after hold and release: %s, released %v; want active and released from quarantine", got.State, got.Released)
	}
}
