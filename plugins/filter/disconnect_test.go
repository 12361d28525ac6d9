package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// sessionsKept is how many sessions p keeps rule matches of.
func sessionsKept(p *Plugin) int {
	p.decided.mu.Lock()
	defer p.decided.mu.Unlock()
	return len(p.decided.sessions)
}

// The disconnect hook frees what a session's hooks matched at once,
// rather than after an hour without a call; the other sessions keep
// theirs.
func TestDisconnectForgetsSession(t *testing.T) {
	p := &Plugin{}
	h := serve(t, p, decidedConfig)
	if !h.Info().Has(sdk.HookDisconnect) {
		t.Fatalf("hooks %v: no disconnect", h.Info().Hooks)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		tx := sessionTxn(id, "a@partner.example")
		h.Connect(tx.Session)
		h.Mail(tx)
		h.Rcpt(tx, "ceo@example.org")
	}
	if n := sessionsKept(p); n != 3 {
		t.Fatalf("%d sessions kept, want 3", n)
	}
	s2 := sessionTxn("s2", "").Session
	h.Disconnect(s2)
	if n := sessionsKept(p); n != 2 {
		t.Fatalf("%d sessions kept after s2's disconnect, want 2", n)
	}
	// Nothing of s2 is kept: were a call to come for it, its rules would
	// be evaluated again, and the reason says so; s1's data hook acts on
	// its record.
	v := h.Data(sessionTxn("s2", "a@partner.example", rc("ceo@example.org")), plainMsg)
	if len(v.Edits) != 2 || !strings.Contains(v.Reason, "evaluated again") {
		t.Fatalf("s2 at data after its disconnect: edits %v, reason %q", v.Edits, v.Reason)
	}
	v = h.Data(sessionTxn("s1", "a@partner.example", rc("ceo@example.org")), plainMsg)
	if len(v.Edits) != 2 || strings.Contains(v.Reason, "evaluated again") {
		t.Fatalf("s1 at data: edits %v, reason %q", v.Edits, v.Reason)
	}
	for _, id := range []string{"s1", "s2", "s3", "unknown"} {
		h.Disconnect(sessionTxn(id, "").Session)
	}
	if n := sessionsKept(p); n != 0 {
		t.Fatalf("%d sessions kept after every disconnect", n)
	}
}

// A filter with no rule acted on at data keeps nothing, and does not
// declare the disconnect hook, which would cost each session a call with
// nothing to do; were it asked, it would do nothing.
func TestDisconnectWithoutRecord(t *testing.T) {
	p := &Plugin{}
	h := serve(t, p, `{"rules":[{"hook":"rcpt","match":"^x@","action":"reject"}]}`)
	if h.Info().Has(sdk.HookDisconnect) {
		t.Fatalf("hooks %v: the disconnect hook declared with no record to keep", h.Info().Hooks)
	}
	tx := sessionTxn("s1", "a@example.net")
	h.Rcpt(tx, "y@example.org")
	h.Disconnect(tx.Session)
	if p.decided != nil {
		t.Fatal("a record kept")
	}
}
