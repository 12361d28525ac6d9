package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeliverRejectLeavesAnotherStagesRoute: a route rule changed to
// reject and reloaded fails the queued recipients the route stage routed,
// but not one whose route another stage set at reception (a quarantine
// relay): the core tells the route stage so (route_set_by_other), and it
// leaves that recipient alone, which goes to the quarantine relay at the
// retry instead of bouncing.
func TestDeliverRejectLeavesAnotherStagesRoute(t *testing.T) {
	rig := startRouteOwnerRig(t)
	d, api, relay, quarantine := rig.d, rig.api, rig.relay, rig.quarantine
	rig.configure(`transport = "reject"` + "\nreply = \"550 5.1.6 This domain has moved away\"")
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{rig.qID, rig.aID} {
		if _, _, err := api.Action(id, "retry"); err != nil {
			t.Fatal(err)
		}
	}
	q := quarantine.WaitN(t, 1, 10*time.Second)
	if !slices.Equal(q[0].Rcpts, []string{"q@moved.test"}) || !strings.Contains(string(q[0].Data), "Subject: suspicious") {
		t.Fatalf("the quarantine relay got %q:\n%s", q[0].Rcpts, q[0].Data)
	}
	bounce := relay.WaitN(t, 1, 10*time.Second)[0]
	if bounce.From != "" || !strings.Contains(string(bounce.Data), "a@moved.test") || !strings.Contains(string(bounce.Data), "550 5.1.6 This domain has moved away") {
		t.Fatalf("a@'s bounce from %q:\n%s", bounce.From, bounce.Data)
	}
	waitEmpty(t, d)
	for _, m := range relay.Deliveries() {
		if strings.Contains(string(m.Data), "q@moved.test") {
			t.Errorf("q@moved.test bounced:\n%s", m.Data)
		}
	}
	if n := len(relay.Deliveries()); n != 1 {
		t.Errorf("the relay got %d messages, want a@'s bounce alone", n)
	}
	if n := len(quarantine.Deliveries()); n != 1 {
		t.Errorf("the quarantine relay got %d messages, want q@'s, once", n)
	}
}
