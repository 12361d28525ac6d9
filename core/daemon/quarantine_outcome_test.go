package daemon

import (
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The trace's outcome at data names the stage that set the message aside
// or dropped it: the later stages are asked after a quarantine, so the
// last trace entry is not its. A discard decided at rcpt stays a discard
// after a quarantine at data (Postfix's DISCARD over HOLD), and a
// quarantined message whose recipients a later stage all removed is
// discarded, which the outcome says: it is neither queued nor held. Over
// SMTP, with the plugins as processes.
func TestQuarantineOutcomeNamesTheStage(t *testing.T) {
	d := startDaemon(t, actorStage(t, "rbl", `{"rcpt": {"drop@remote.test": {"action": "discard"}}}`, "")+
		actorStage(t, "spam", `{"data": {"spammy": {"action": "quarantine"}}}`, "")+
		actorStage(t, "cleaner", `{"data": {"emptied": {"edits": [{"op": "remove_recipient", "addr": "bob@remote.test"}]}}}`, ""))
	for _, tc := range []struct {
		subject, rcpt, outcome string
		queued                 bool
	}{
		{"spammy", "bob@remote.test", "quarantine by stage spam", true},
		{"spammy", "drop@remote.test", "discard by stage rbl", false},
		{"spammy and emptied", "bob@remote.test", "discard: no recipient left (quarantine by stage spam)", false},
	} {
		r, err := send(t, d, tc.subject, tc.rcpt)
		if err != nil {
			t.Fatalf("%s to %s: %v", tc.subject, tc.rcpt, err)
		}
		id := queuedID(t, r)
		if tr := getTrace(t, d, id); tr.Outcome != tc.outcome {
			t.Errorf("%s to %s: trace outcome %q, want %q", tc.subject, tc.rcpt, tr.Outcome, tc.outcome)
		}
		if m, err := d.Queue().Get(id); tc.queued != (err == nil) || tc.queued && m.State != envelope.StateQuarantined {
			t.Errorf("%s to %s: queued %+v %v, want queued %v (quarantined)", tc.subject, tc.rcpt, m, err, tc.queued)
		}
	}
	if counts, err := d.Queue().Counts(); err != nil || counts[envelope.StateQuarantined] != 1 || counts[envelope.StateActive] != 0 {
		t.Errorf("queue counts %v %v, want the first message only", counts, err)
	}
}
