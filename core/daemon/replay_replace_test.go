package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter replace rule (Postfix's REPLACE, and IGNORE with replace = "")
// rewrites the fields it matched in the message the daemon would queue;
// a later stage sees the rewritten field (here a second filter tags on
// it), and the trace shows the header edits at data with the rule in the
// reason.
func TestReplayShowsFilterReplace(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	c := filterReplayConfig(t, `
[[stage.config.rules]]
name    = "tag"
hook    = "header"
header  = "Subject"
match   = '(?i)^(.*viagra.*)$'
action  = "replace"
replace = "Subject: [SPAM] $1"

[[stage.config.rules]]
name    = "internal"
hook    = "header"
match   = '^X-Internal-Id:'
action  = "replace"
replace = ""

[[stage]]
name   = "tagger"
plugin = "filter"
[[stage.config.rules]]
name         = "seen"
hook         = "header"
header       = "Subject"
match        = '^\[SPAM\] '
action       = "add_header"
header_name  = "X-Tagged"
header_value = "yes"
`)
	res, err := Replay(context.Background(), c,
		[]byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: cheap\r\n viagra\r\nX-Internal-Id: 42\r\n\r\nhello\r\n"),
		ReplayOptions{Self: self, ClientIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "continue" {
		t.Errorf("outcome %s (%s), want continue", res.Outcome, res.Reply)
	}
	head, _, _ := strings.Cut(res.Message, "\r\n\r\n")
	if !strings.Contains(head, "\r\nSubject: [SPAM] cheap viagra\r\n") || strings.Contains(head, "X-Internal-Id") || !strings.Contains(head, "\r\nX-Tagged: yes") {
		t.Errorf("message header:\n%s\nwant the Subject replaced, X-Internal-Id deleted and the tagger's field", head)
	}
	found := false
	for _, e := range res.Trace {
		if e.Stage == "filter" && e.Hook == "data" && strings.Contains(e.Reason, `rule "tag" (replace)`) && strings.Contains(e.Reason, `rule "internal" (replace)`) {
			found = true
			if edits := strings.Join(e.Edits, "; "); !strings.Contains(edits, "change header Subject[1]: [SPAM] cheap viagra") || !strings.Contains(edits, "delete header X-Internal-Id[1]") {
				t.Errorf("trace edits %q: want the Subject changed and X-Internal-Id deleted", e.Edits)
			}
		}
	}
	if !found {
		t.Errorf("trace %+v has no filter entry at data naming both replace rules", res.Trace)
	}
}
