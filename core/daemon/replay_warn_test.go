package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter warn rule (Postfix's WARN) shows in replay's trace as the
// stage's reason, lets the message through to the reject rule after it,
// and its line reaches the core's log as a record of its own, with the
// stage's name and the rule.
func TestReplayShowsFilterWarnRule(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	c := filterReplayConfig(t, `
[[stage.config.rules]]
name   = "try-subject"
hook   = "header"
header = "Subject"
match  = "(?i)invoice"
action = "warn"
[[stage.config.rules]]
name   = "zip"
hook   = "body"
match  = "PK-zip"
action = "reject"
`)
	logs := &syncBuf{}
	opt := ReplayOptions{Self: self, ClientIP: "192.0.2.7", Logger: slog.New(slog.NewTextHandler(logs, nil))}
	run := func(body string) *ReplayResult {
		t.Helper()
		res, err := Replay(context.Background(), c, []byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: Your invoice\r\n\r\n"+body+"\r\n"), opt)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run("hello")
	if res.Outcome != "continue" {
		t.Errorf("outcome %s (%s), want continue", res.Outcome, res.Reply)
	}
	found := false
	for _, e := range res.Trace {
		if e.Stage == "filter" && e.Hook == "data" && strings.Contains(e.Reason, `rule "try-subject" (warn): Subject "Your invoice" matches`) {
			found = true
		}
	}
	if !found {
		t.Errorf("trace %+v has no filter entry at data naming the warn rule", res.Trace)
	}
	if res := run("PK-zip"); res.Outcome != "reject" {
		t.Errorf("outcome %s, want reject: the rule after a warn rule still applies", res.Outcome)
	}
	// The plugin's process is gone when Replay returns, and the core has
	// read its stderr, where sdk.Logger writes, to the end: no wait.
	l := logs.String()
	if !strings.Contains(l, `msg="filter: warn rule matched"`) || !strings.Contains(l, "stage=filter") || !strings.Contains(l, "rule=try-subject") {
		t.Errorf("the core's log has no warn line with the stage and rule:\n%s", l)
	}
}

// filterReplayConfig is a config with one filter stage whose rules are
// rules (TOML [[stage.config.rules]] tables), for replay tests.
func filterReplayConfig(t *testing.T, rules string) *config.Config {
	t.Helper()
	return mustParse(t, fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[[stage]]
name = "filter"
plugin = "filter"
`, t.TempDir())+rules)
}
