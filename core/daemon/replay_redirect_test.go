package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter redirect rule (Postfix's REDIRECT) leaves the envelope with
// its address as the only recipient, and the trace shows the removals
// and the addition at data with the rule in the reason.
func TestReplayShowsFilterRedirect(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	c := filterReplayConfig(t, `
[[stage.config.rules]]
name     = "invoices"
hook     = "header"
header   = "Subject"
match    = "(?i)invoice"
action   = "redirect"
redirect = "accounts@sluice.test"
`)
	res, err := Replay(context.Background(), c,
		[]byte("From: a@example.net\r\nTo: b@sluice.test, c@sluice.test\r\nSubject: Your invoice\r\n\r\nhello\r\n"),
		ReplayOptions{Self: self, ClientIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "continue" {
		t.Errorf("outcome %s (%s), want continue", res.Outcome, res.Reply)
	}
	if rs := res.Envelope.Rcpts; len(rs) != 1 || rs[0].Addr != "accounts@sluice.test" {
		t.Errorf("recipients %+v, want only accounts@sluice.test", rs)
	}
	found := false
	for _, e := range res.Trace {
		if e.Stage == "filter" && e.Hook == "data" && strings.Contains(e.Reason, `rule "invoices" (redirect)`) {
			found = true
			if edits := strings.Join(e.Edits, "; "); !strings.Contains(edits, "b@sluice.test") || !strings.Contains(edits, "c@sluice.test") || !strings.Contains(edits, "accounts@sluice.test") {
				t.Errorf("trace edits %q: want both removals and the addition", e.Edits)
			}
		}
	}
	if !found {
		t.Errorf("trace %+v has no filter entry at data naming the redirect rule", res.Trace)
	}
}
