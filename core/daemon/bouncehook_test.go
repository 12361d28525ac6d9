package daemon

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// bouncerStage renders a [[stage]] running the bouncer test plugin (a
// bounce hook) with the JSON script js.
func bouncerStage(t *testing.T, name, js, extra string) string {
	bin := testlib.Build(t, "./internal/testplugins/bouncer")
	var script map[string]any
	if err := json.Unmarshal([]byte(js), &script); err != nil {
		t.Fatalf("bad bouncer script: %v", err)
	}
	return fmt.Sprintf("[[stage]]\nname = %q\nplugin = %q\n%s\n[stage.config]\njson = %q\n", name, bin, extra, js)
}

// waitReport waits for the report on the message to rcpt to be queued
// and returns it with its body.
func waitReport(t *testing.T, d *Daemon, rcpt string) (*envelope.Message, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := d.Queue().List(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Report == "" {
				continue
			}
			body, err := d.Queue().Body(m.ID)
			if err == nil && strings.Contains(string(body), rcpt) {
				return m, string(body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report on the message to %s queued", rcpt)
		}
		<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// TestBounceHookFailureSendsReportAsGenerated: a bounce hook that fails
// (an error, a crash) with on_error tempfail no longer drops the report:
// it is queued as generated, without the edits of the stage before, and
// `sluice trace REPORT` shows what the stages did. A quarantine verdict
// queues the report quarantined, with the edits.
func TestBounceHookFailureSendsReportAsGenerated(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "alice@sluice.test" {
			return testlib.Temp // the reports stay queued, to be looked at
		}
		return testlib.Perm
	})
	d := startDaemon(t, relayTo(sink)+
		bouncerStage(t, "tag", `{"@": {"add_header": "X-Tag: yes"}}`, "")+
		bouncerStage(t, "guard", `{
		  "fail@remote.test":  {"error": "boom"},
		  "quar@remote.test":  {"action": "quarantine", "add_header": "X-Held: yes"},
		  "crash@remote.test": {"crash": true}
		}`, `on_error = "tempfail"`))

	for _, tc := range []struct {
		rcpt, outcome string
		state         envelope.State
		edited        bool
		guard         string // the guard's action in the trace
	}{
		{"fail@remote.test", "queued as generated: stage guard failed (on_error tempfail): sdk: bounce hook", envelope.StateActive, false, "error"},
		{"quar@remote.test", "quarantined by stage guard", envelope.StateQuarantined, true, "quarantine"},
		{"crash@remote.test", "queued as generated: stage guard failed (on_error tempfail)", envelope.StateActive, false, "error"},
	} {
		if _, err := send(t, d, "to "+tc.rcpt, tc.rcpt); err != nil {
			t.Fatal(err)
		}
		r, body := waitReport(t, d, tc.rcpt)
		if r.State != tc.state {
			t.Errorf("%s: report in state %s, want %s", tc.rcpt, r.State, tc.state)
		}
		if got := strings.Contains(body, "X-Tag: yes"); got != tc.edited {
			t.Errorf("%s: report edited %v, want %v:\n%s", tc.rcpt, got, tc.edited, body)
		}
		tr := getTrace(t, d, r.ID)
		var got []string
		for _, e := range tr.Entries {
			if e.Hook == sdk.HookBounce {
				got = append(got, e.Stage+":"+e.Action)
			}
		}
		if want := "tag:continue guard:" + tc.guard; strings.Join(got, " ") != want || !strings.HasPrefix(tr.Outcome, tc.outcome) {
			t.Errorf("%s: trace %q, outcome %q; want %q, %q", tc.rcpt, got, tr.Outcome, want, tc.outcome)
		}
	}
	waitStage(t, d, "guard", func(s pipeline.StageStatus) bool { return s.State == "running" && s.Restarts >= 1 })
}
