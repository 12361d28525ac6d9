package filter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// TestWarnRuleKeepsGreylisting: a warn rule at rcpt only reports, so it
// must not spare the recipient greylisting as a pass rule does (that
// would let a rule meant to be watched change what is accepted), and a
// greylisted RCPT still logs its warn line once, with the rule in the
// 451's reason beside greylisting's.
func TestWarnRuleKeepsGreylisting(t *testing.T) {
	clk := newClock()
	lines := &logLines{}
	p := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines, nil))}
	h := serve(t, p, fmt.Sprintf(`{"rules":[
		{"name":"try-sales","hook":"rcpt","match":"^sales@","action":"warn"},
		{"name":"postmaster","hook":"rcpt","match":"^postmaster@","action":"pass"}
	],"greylist":{"enabled":true,"delay":"5m","expiry":"4h","whitelist_ttl":"36d","state_dir":%q}}`, t.TempDir()))
	t.Cleanup(func() { _ = p.grey.close() })
	tx := txnFrom("192.0.2.10", "alice@example.net")

	v := h.Rcpt(tx, "sales@example.org")
	wantGreylisted(t, "a warn rule's match is greylisted all the same", v)
	if !strings.Contains(v.Reason, `rule "try-sales" (warn)`) || !strings.Contains(v.Reason, "greylist") {
		t.Errorf("reason %q should give the warn rule and greylisting", v.Reason)
	}
	wantWarned(t, "greylisted", lines.Take(t), map[string]string{"rule": "try-sales", "rcpt": "sales@example.org"})

	// The pass rule, for comparison, skips greylisting and logs nothing.
	wantAction(t, "pass rule", h.Rcpt(tx, "postmaster@example.org"), sdk.ActionContinue)
	if recs := lines.Take(t); len(recs) != 0 {
		t.Errorf("a pass rule logged %v", recs)
	}

	clk.Advance(6 * time.Minute)
	wantAction(t, "the retry after the delay", h.Rcpt(tx, "sales@example.org"), sdk.ActionContinue)
	wantWarned(t, "retry", lines.Take(t), map[string]string{"rule": "try-sales", "rcpt": "sales@example.org"})
}

// TestWarnLoggedWhenGreylistFails: a warn rule that matched at rcpt is
// logged even when greylisting then fails (here a follower process cannot
// write the state when it takes it over): with on_error = continue
// the mail goes on, and the match must not go unrecorded.
func TestWarnLoggedWhenGreylistFails(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"rules":[{"name":"try-sales","hook":"rcpt","match":"^sales@","action":"warn"}],
		"greylist":{"enabled":true,"delay":"5m","expiry":"4h","whitelist_ttl":"36d","state_dir":%q}}`, dir)
	old := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(&logLines{}, nil))}
	serve(t, old, cfg) // holds the state directory
	lines := &logLines{}
	nu := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines, nil))}
	h := serve(t, nu, cfg) // follows it
	t.Cleanup(func() { _ = nu.grey.close() })
	lines.Take(t)
	if err := old.grey.close(); err != nil {
		t.Fatal(err)
	}
	// A snapshot that cannot be read is set aside, and greylisting goes
	// on: here it can be neither set aside nor replaced (a directory in
	// its place, and another in the place of its .bad copy).
	for _, name := range []string{snapshotFile, snapshotFile + ".bad"} {
		writeBadState(t, dir, name, "")
	}
	tx := txnFrom("192.0.2.10", "alice@example.net")
	if _, err := h.Client().Hook(context.Background(), sdk.HookRcpt, tx, &sdk.Recipient{Addr: "sales@example.org"}, nil); err == nil {
		t.Fatal("the greylist's failure should fail the call")
	}
	var warned []map[string]any
	for _, rec := range lines.Take(t) {
		if rec["msg"] == "filter: warn rule matched" {
			warned = append(warned, rec)
		}
	}
	wantWarned(t, "greylisting failed", warned, map[string]string{"rule": "try-sales", "rcpt": "sales@example.org"})
}
