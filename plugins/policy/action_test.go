package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestActions: each access(5) action a server answers at RCPT becomes
// the verdict Postfix's answer would: DUNNO goes on, OK and RELAY (and
// a number) permit, which ends the hook's pass (the stages after are
// not asked), REJECT and DEFER refuse with access_map_reject_code and
// _defer_code, 4NN/5NN with theirs, an enhanced code kept (its class
// the reply's; an address status fit for a recipient) or X.7.1,
// DEFER_IF_PERMIT defers now, HOLD quarantines, DISCARD drops, WARN and
// INFO, FILTER and DEFER_IF_REJECT go on; a word no action has is
// Postfix's server configuration error.
func TestActions(t *testing.T) {
	srv := newServer(t)
	_, h, lb := newStage(t, srv, "")
	tx := sdktest.NewTxn("a@origin.test")
	for _, c := range []struct {
		action string
		want   sdk.Action
		reply  string // "code enhanced text"
		log    string
	}{
		{"DUNNO", sdk.ActionContinue, "", ""},
		{"dunno", sdk.ActionContinue, "", ""},
		{"DUNNO ignored text", sdk.ActionContinue, "", ""},
		{"OK", sdk.ActionAccept, "", ""},
		{"ok whitelisted", sdk.ActionAccept, "", ""},
		{"RELAY", sdk.ActionAccept, "", ""},
		{"1712345678", sdk.ActionAccept, "", ""},
		{"permit", sdk.ActionAccept, "", ""},
		{"", sdk.ActionAccept, "", "an empty action"},
		{"REJECT", sdk.ActionReject, "554 5.7.1 <b@example.org>: Recipient address rejected: Access denied", ""},
		{"reject Spam source", sdk.ActionReject, "554 5.7.1 <b@example.org>: Recipient address rejected: Spam source", ""},
		{"REJECT 5.7.23 SPF fail", sdk.ActionReject, "554 5.7.23 <b@example.org>: Recipient address rejected: SPF fail", ""},
		{"REJECT 4.1.7 odd", sdk.ActionReject, "554 5.1.3 <b@example.org>: Recipient address rejected: odd", ""},
		{"DEFER", sdk.ActionTempfail, "450 4.7.1 <b@example.org>: Recipient address rejected: Access denied", ""},
		{"DEFER try later", sdk.ActionTempfail, "450 4.7.1 <b@example.org>: Recipient address rejected: try later", ""},
		{"550 5.1.1 No such user", sdk.ActionReject, "550 5.1.1 <b@example.org>: Recipient address rejected: No such user", ""},
		{"550 No such user", sdk.ActionReject, "550 5.7.1 <b@example.org>: Recipient address rejected: No such user", ""},
		{"421 4.2.0 slow down", sdk.ActionTempfail, "421 4.2.0 <b@example.org>: Recipient address rejected: slow down", ""},
		{"452 5.2.2 over quota", sdk.ActionTempfail, "452 4.2.2 <b@example.org>: Recipient address rejected: over quota", ""},
		{"450", sdk.ActionAccept, "", ""}, // all digits: Postfix's time stamp OK
		{"DEFER_IF_PERMIT 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/example.org.html", sdk.ActionTempfail,
			"450 4.2.0 <b@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html", ""},
		{"defer_if_permit", sdk.ActionTempfail, "450 4.7.1 <b@example.org>: Recipient address rejected: Service unavailable", ""},
		{"DEFER_IF_REJECT maybe", sdk.ActionContinue, "", "DEFER_IF_REJECT"},
		{"HOLD suspicious", sdk.ActionQuarantine, "", ""},
		{"DISCARD", sdk.ActionDiscard, "", ""},
		{"WARN looks odd", sdk.ActionContinue, "", "warn: looks odd"},
		{"INFO noted", sdk.ActionContinue, "", "info: noted"},
		{"FILTER smtp:[127.0.0.1]:10025", sdk.ActionContinue, "", "FILTER is not supported"},
		{"HANGUP", sdk.ActionContinue, "", "HANGUP is not supported"},
		{"REDIRECT nobody", sdk.ActionContinue, "", "REDIRECT requires a user@domain target"},
		{"BCC", sdk.ActionContinue, "", "BCC requires a user@domain target"},
		{"PREPEND no-colon", sdk.ActionContinue, "", "PREPEND requires header: text"},
		// After white space, or a word no action has, the value is a
		// restriction list: generic_checks' own codes and texts.
		{" REJECT go away", sdk.ActionReject, "554 5.7.1 <b@example.org>: Recipient address rejected: Access denied", ""},
		{"\tdefer", sdk.ActionTempfail, "450 4.3.2 <b@example.org>: Recipient address rejected: Try again later", ""},
		{" DEFER_IF_PERMIT", sdk.ActionTempfail, "450 4.7.0 <b@example.org>: Recipient address rejected: defer_if_permit requested", ""},
		{"defer_if_reject, reject", sdk.ActionTempfail, "450 4.7.0 <b@example.org>: Recipient address rejected: defer_if_reject requested", ""},
		{" defer_if_reject", sdk.ActionContinue, "", ""},
		{" permit, reject", sdk.ActionAccept, "", ""},
		{" OK", sdk.ActionTempfail, "451 4.3.5 Server configuration error", "unknown action"},
		{" DUNNO", sdk.ActionTempfail, "451 4.3.5 Server configuration error", "unknown action"},
		{"FROBNICATE", sdk.ActionTempfail, "451 4.3.5 Server configuration error", "unknown action"},
		{"reject_unauth_destination", sdk.ActionTempfail, "451 4.3.5 Server configuration error", "unknown action"},
		{"hash:/etc/postfix/access", sdk.ActionTempfail, "451 4.3.5 Server configuration error", "unknown action"},
	} {
		srv.always(c.action)
		v := h.Rcpt(tx, "b@example.org")
		got := ""
		if v.Reply != nil {
			got = fmt.Sprintf("%d %s %s", v.Reply.Code, v.Reply.Enhanced, v.Reply.Text)
		}
		if v.Action != c.want || got != c.reply {
			t.Errorf("action=%s: %v %q, want %v %q", c.action, v.Action, got, c.want, c.reply)
		}
		if want := "action=" + c.action; !strings.Contains(v.Reason, want) {
			t.Errorf("action=%s: reason %q does not say %q", c.action, v.Reason, want)
		}
		if c.log != "" && !strings.Contains(lb.String(), c.log) {
			t.Errorf("action=%s: the log has no %q:\n%s", c.action, c.log, lb.String())
		}
	}
}

// TestAddressStatusForTheSender: a recipient's X.1.1 refusing a sender
// is X.1.7, and refusing the client X.0.0 (Postfix's smtpd_dsn_fix).
func TestAddressStatusForTheSender(t *testing.T) {
	srv := newServer(t)
	srv.always("REJECT 5.1.1 unknown")
	_, h, _ := newStage(t, srv, `, "hooks": ["connect", "mail"]`)
	tx := sdktest.NewTxn("a@origin.test")
	if v := h.Mail(tx); v.Reply == nil || v.Reply.Enhanced != "5.1.7" {
		t.Errorf("MAIL: %+v, want 5.1.7", v.Reply)
	}
	if v := h.Connect(tx.Session); v.Reply == nil || v.Reply.Enhanced != "5.0.0" {
		t.Errorf("CONNECT: %+v, want 5.0.0", v.Reply)
	}
}

// TestDataTimeActions: PREPEND, REDIRECT and BCC answered at RCPT act on
// the message at the data hook, as Postfix's cleanup does: the fields
// at the top in the order answered, every recipient replaced by the
// last REDIRECT, each BCC added with NOTIFY=NEVER; those of the next
// transaction are its own, and those of connect last the session.
func TestDataTimeActions(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["connect", "rcpt"]`)
	tx := sdktest.NewTxn("a@origin.test")
	tx.Session.Transaction = 1

	srv.always("PREPEND X-Connect: seen")
	h.Connect(tx.Session)
	for _, act := range []string{
		"PREPEND X-Greylist: delayed 63 seconds by postgrey-1.37 at mx; Sat, 01 Mar 2025",
		"BCC archive@example.org",
		"REDIRECT first@example.org",
		"PREPEND Received-SPF: pass (example.org: 192.0.2.1 is allowed)",
		"REDIRECT quarantine@example.org",
		"BCC archive@example.org",
	} {
		srv.always(act)
		if v := h.Rcpt(tx, "b@example.org"); v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
			t.Fatalf("%s at RCPT: %v %v, want continue without edits", act, v.Action, v.Edits)
		}
	}
	tx.Envelope.Rcpts = []sdk.Recipient{{Addr: "b@example.org"}, {Addr: "c@example.org"}}
	raw := []byte("Received: from x\r\nSubject: hi\r\n\r\nbody\r\n")
	v := h.Data(tx, raw)
	got := string(sdktest.Apply(t, raw, v))
	want := "X-Connect: seen\r\n" +
		"X-Greylist: delayed 63 seconds by postgrey-1.37 at mx; Sat, 01 Mar 2025\r\n" +
		"Received-SPF: pass (example.org: 192.0.2.1 is allowed)\r\n" +
		"Received: from x\r\nSubject: hi\r\n\r\nbody\r\n"
	if got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
	env := tx.Envelope
	sdktest.ApplyEnvelope(&env, v.Edits)
	var rcpts []string
	for _, r := range env.Rcpts {
		rcpts = append(rcpts, r.Addr+" "+r.Params["NOTIFY"])
	}
	if got, want := strings.Join(rcpts, ", "), "quarantine@example.org , archive@example.org NEVER"; got != want {
		t.Errorf("recipients %q, want %q", got, want)
	}

	// The next transaction: connect's field again, nothing of the last.
	tx.Session.Transaction = 2
	srv.always("DUNNO")
	h.Rcpt(tx, "b@example.org")
	v = h.Data(tx, raw)
	if got := string(sdktest.Apply(t, raw, v)); got != "X-Connect: seen\r\n"+string(raw) {
		t.Errorf("next message:\n%s", got)
	}
	if len(v.Edits) != 1 {
		t.Errorf("next message's edits: %v, want the one field", v.Edits)
	}

	// A PREPEND at END-OF-MESSAGE comes too late, as in Postfix; one at
	// DATA is made there.
	_, h2, lb := newStage(t, srv, `, "hooks": ["data", "end-of-data"]`)
	srv.answers(func(r serverReq) reply { return action("PREPEND X-State: " + r.attrs["protocol_state"]) })
	v = h2.Data(tx, raw)
	if got := string(sdktest.Apply(t, raw, v)); got != "X-State: DATA\r\n"+string(raw) {
		t.Errorf("DATA and END-OF-MESSAGE PREPEND:\n%s", got)
	}
	if !strings.Contains(lb.String(), "PREPEND must be used before END-OF-MESSAGE") {
		t.Errorf("no warning for PREPEND at END-OF-MESSAGE:\n%s", lb.String())
	}
}

// TestPrependChecked: a PREPEND whose field the core would drop (a CR
// or NUL in the middle of the answer's line) or that would break the
// message's 998-character line limit is logged and ignored, as Postfix
// ignores a PREPEND that is not a header field; the others are made.
func TestPrependChecked(t *testing.T) {
	srv := newServer(t)
	_, h, lb := newStage(t, srv, "")
	tx := sdktest.NewTxn("a@origin.test", "b@example.org")
	tx.Session.Transaction = 1
	for _, act := range []string{
		"PREPEND X-Bad: a\rb",
		"PREPEND X-Bad: a\x00b",
		"PREPEND X-Bad: " + strings.Repeat("x", pfaccess.MaxFieldLine-len("X-Bad: ")+1),
		"PREPEND X-Good: " + strings.Repeat("y", pfaccess.MaxFieldLine-len("X-Good: ")),
	} {
		srv.always(act)
		h.Rcpt(tx, "b@example.org")
	}
	raw := []byte("Subject: hi\r\n\r\n")
	v := h.Data(tx, raw)
	want := "X-Good: " + strings.Repeat("y", pfaccess.MaxFieldLine-len("X-Good: ")) + "\r\n" + string(raw)
	if got := string(sdktest.Apply(t, raw, v)); got != want {
		t.Errorf("message:\n%.200q\nwant:\n%.200q", got, want)
	}
	if n := strings.Count(lb.String(), "PREPEND requires header: text"); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, lb.String())
	}
}

// TestHoldAndDiscardAtData: at the data hook a refusal wins, then
// DISCARD over HOLD, and either keeps the PREPENDed fields (a
// quarantined message keeps what said why); an OK does not end the
// data hook's pass.
func TestHoldAndDiscardAtData(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["rcpt", "data", "end-of-data"]`)
	tx := sdktest.NewTxn("a@origin.test", "b@example.org")
	raw := []byte("Subject: hi\r\n\r\n")
	for _, c := range []struct {
		rcpt, data, eod string
		want            sdk.Action
		edits           int
	}{
		{"PREPEND X-A: 1", "HOLD", "DUNNO", sdk.ActionQuarantine, 1},
		{"DUNNO", "HOLD", "DISCARD", sdk.ActionDiscard, 0},
		{"DUNNO", "DISCARD", "HOLD", sdk.ActionDiscard, 0},
		{"PREPEND X-A: 1", "OK", "REJECT no", sdk.ActionReject, 0},
		// OK at the data hook: the content checks and signers after the
		// stage are still asked.
		{"DUNNO", "OK", "DUNNO", sdk.ActionContinue, 0},
	} {
		srv.answers(func(r serverReq) reply {
			return action(map[string]string{"RCPT": c.rcpt, "DATA": c.data, "END-OF-MESSAGE": c.eod}[r.attrs["protocol_state"]])
		})
		h.Rcpt(tx, "b@example.org")
		v := h.Data(tx, raw)
		if v.Action != c.want || len(v.Edits) != c.edits {
			t.Errorf("%s/%s/%s: %v with %d edits, want %v with %d", c.rcpt, c.data, c.eod, v.Action, len(v.Edits), c.want, c.edits)
		}
	}
}

// TestSkippedClients: AUTH and relay_networks clients are not asked
// about by default, as permit_sasl_authenticated and permit_mynetworks
// before check_policy_service have it; with the skip keys false they
// are.
func TestSkippedClients(t *testing.T) {
	srv := newServer(t)
	srv.always("REJECT no")
	_, h, _ := newStage(t, srv, "")
	auth := sdktest.NewTxn("a@origin.test")
	auth.Session.AuthUser = "alice"
	relay := sdktest.NewTxn("a@origin.test")
	relay.Session.RelayClient = true
	for _, tx := range []*sdk.Txn{auth, relay} {
		if v := h.Rcpt(tx, "b@example.org"); v.Action != sdk.ActionContinue {
			t.Errorf("%+v: %v, want continue unasked", tx.Session, v.Action)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Fatalf("the server was asked %d times", n)
	}
	_, h, _ = newStage(t, srv, `, "skip_authenticated": false, "skip_relay_clients": false`)
	for _, tx := range []*sdk.Txn{auth, relay} {
		if v := h.Rcpt(tx, "b@example.org"); v.Action != sdk.ActionReject {
			t.Errorf("%+v with the skips off: %v, want reject", tx.Session, v.Action)
		}
	}
}
