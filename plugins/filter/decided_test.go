package filter

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// decidedConfig has a bcc and a redirect rule at rcpt and an add_header
// rule at mail.
const decidedConfig = `{"rules":[
	{"name":"partner","hook":"mail","match":"@partner\\.example$","action":"add_header","header_name":"X-Partner","header_value":"yes"},
	{"name":"vip","hook":"rcpt","match":"^ceo@","action":"bcc","bcc":"audit@sluice.test"},
	{"name":"cfo","hook":"rcpt","match":"^cfo@","action":"redirect","redirect":"review@sluice.test"}]}`

// sessionTxn is a transaction of session id from sender, its envelope
// holding rcpts (the recipients accepted so far).
func sessionTxn(id, from string, rcpts ...sdk.Recipient) *sdk.Txn {
	t := sdktest.NewTxn(from)
	t.Session.ID = id
	t.Envelope.Rcpts = rcpts
	return t
}

func rc(addr string) sdk.Recipient { return sdk.Recipient{Addr: addr} }

// expanded is a route alias target of orig at data: ORCPT names orig
// (RFC 3461 §5.2.7).
func expanded(addr, orig string) sdk.Recipient {
	return sdk.Recipient{Addr: addr, Params: map[string]string{"ORCPT": "rfc822;" + orig}}
}

var plainMsg = []byte("Subject: hi\r\n\r\nhello\r\n")

// A rule that matched a recipient at RCPT is acted on at data although a
// stage before the filter has since rewritten that recipient (a route
// alias, ceo@ to alice@ and bob@): the copy is added, the redirect made.
func TestRcptDecisionHoldsAtData(t *testing.T) {
	h := serve(t, nil, decidedConfig)

	tx := sessionTxn("s1", "a@example.net")
	wantAction(t, "connect", h.Connect(tx.Session), sdk.ActionContinue)
	wantAction(t, "helo", h.Helo(tx, tx.Session.Helo), sdk.ActionContinue)
	wantAction(t, "mail", h.Mail(tx), sdk.ActionContinue)
	if v := h.Rcpt(tx, "ceo@example.org"); !strings.Contains(v.Reason, "(copied at data)") {
		t.Fatalf("rcpt reason %q", v.Reason)
	}
	at := sessionTxn("s1", "a@example.net", expanded("alice@example.org", "ceo@example.org"), expanded("bob@example.org", "ceo@example.org"))
	v := h.Data(at, plainMsg)
	if got, want := addedRcpts(v), []string{"audit@sluice.test NOTIFY=NEVER"}; !slices.Equal(got, want) {
		t.Errorf("added %v, want %v (reason %q)", got, want, v.Reason)
	}
	if !strings.Contains(v.Reason, `rule "vip" (bcc): recipient "ceo@example.org" matches ^ceo@ (copy to <audit@sluice.test>, NOTIFY=NEVER)`) {
		t.Errorf("data reason %q: want the copy, and what it matched at rcpt", v.Reason)
	}

	// The matched recipient is not the first: the ORCPT of its alias's
	// targets says it was taken.
	tx = sessionTxn("s2", "a@example.net")
	h.Mail(tx)
	h.Rcpt(tx, "bob@example.org")
	tx.Envelope.Rcpts = []sdk.Recipient{rc("bob@example.org")}
	if v := h.Rcpt(tx, "cfo@example.org"); !strings.Contains(v.Reason, "(redirected at data)") {
		t.Fatalf("rcpt reason %q", v.Reason)
	}
	at = sessionTxn("s2", "a@example.net", rc("bob@example.org"), expanded("carol@example.org", "cfo@example.org"))
	v = h.Data(at, plainMsg)
	if got := rcptsAfter(at, v); !slices.Equal(got, []string{"review@sluice.test"}) {
		t.Errorf("recipients after %v: %v, want review@ alone (reason %q)", v.Edits, got, v.Reason)
	}

	// The first recipient taken: a data hook means it was, whatever it
	// became (no ORCPT here).
	tx = sessionTxn("s3", "a@example.net")
	h.Mail(tx)
	h.Rcpt(tx, "cfo@example.org")
	at = sessionTxn("s3", "a@example.net", rc("carol@example.org"))
	if got := rcptsAfter(at, h.Data(at, plainMsg)); !slices.Equal(got, []string{"review@sluice.test"}) {
		t.Errorf("first recipient: recipients %v, want review@ alone", got)
	}
}

// A mail rule that matched the sender at MAIL adds its field at data
// although a stage has since rewritten the sender (a canonical map, SRS).
func TestMailDecisionHoldsAtData(t *testing.T) {
	h := serve(t, nil, decidedConfig)
	tx := sessionTxn("m1", "sales@partner.example")
	h.Connect(tx.Session)
	h.Helo(tx, tx.Session.Helo)
	if v := h.Mail(tx); !strings.Contains(v.Reason, "(added at data)") {
		t.Fatalf("mail reason %q", v.Reason)
	}
	h.Rcpt(tx, "bob@example.org")
	at := sessionTxn("m1", "SRS0=ab=cd=partner.example=sales@sluice.test", rc("bob@example.org"))
	v := h.Data(at, plainMsg)
	if got := string(sdktest.Apply(t, plainMsg, v)); !strings.Contains(got, "X-Partner: yes\r\n") {
		t.Errorf("message %q: want the mail rule's field (reason %q)", got, v.Reason)
	}
}

// A rule that matched nothing at RCPT does nothing at data, even when a
// stage has since made a recipient of an address it would match.
func TestRcptNoMatchStaysNone(t *testing.T) {
	h := serve(t, nil, decidedConfig)
	tx := sessionTxn("n1", "a@example.net")
	h.Connect(tx.Session)
	h.Helo(tx, tx.Session.Helo)
	h.Mail(tx)
	h.Rcpt(tx, "office@example.org")
	at := sessionTxn("n1", "a@example.net", expanded("ceo@example.org", "office@example.org"))
	v := h.Data(at, plainMsg)
	if len(v.Edits) != 0 || strings.Contains(v.Reason, "vip") {
		t.Errorf("edits %v reason %q: the rule did not match at RCPT", v.Edits, v.Reason)
	}
}

// A recipient a stage after the filter refused is not acted on: the next
// RCPT's envelope lacks it; the last one is looked for at data, and the
// reason says why it was not acted on.
func TestRcptRefusedLaterNotActedOn(t *testing.T) {
	h := serve(t, nil, decidedConfig)
	tx := sessionTxn("r1", "a@example.net")
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org") // a later stage refuses it
	h.Rcpt(tx, "bob@example.org") // so the envelope is still empty
	at := sessionTxn("r1", "a@example.net", rc("bob@example.org"))
	if v := h.Data(at, plainMsg); len(v.Edits) != 0 {
		t.Errorf("refused, then bob: edits %v, want none (reason %q)", v.Edits, v.Reason)
	}

	tx = sessionTxn("r2", "a@example.net")
	h.Mail(tx)
	h.Rcpt(tx, "bob@example.org")
	tx.Envelope.Rcpts = []sdk.Recipient{rc("bob@example.org")}
	h.Rcpt(tx, "cfo@example.org") // refused after the filter
	at = sessionTxn("r2", "a@example.net", rc("bob@example.org"))
	v := h.Data(at, plainMsg)
	if len(v.Edits) != 0 {
		t.Errorf("bob, then refused: edits %v, want none", v.Edits)
	}
	if !strings.Contains(v.Reason, "recipient <cfo@example.org> matched at rcpt is not a recipient at data") {
		t.Errorf("reason %q: want why the redirect was not made", v.Reason)
	}
}

// A new MAIL (after RSET) or HELO ends the transaction's record; so does
// the data hook, and a transaction whose MAIL the filter was not asked
// about does not inherit the last one's recipients.
func TestDecisionsEndWithTransaction(t *testing.T) {
	clk := newClock()
	p := &Plugin{now: clk.Now}
	h := serve(t, p, decidedConfig)
	txn := func(id string) *txnRecord {
		p.decided.mu.Lock()
		defer p.decided.mu.Unlock()
		return p.decided.sessions[id].txn
	}

	tx := sessionTxn("t1", "a@example.net")
	h.Connect(tx.Session)
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org")
	if tr := txn("t1"); tr == nil || tr.pending == nil {
		t.Fatalf("after RCPT: %+v, want the match pending", tr)
	}
	h.Mail(tx) // RSET, MAIL
	if tr := txn("t1"); tr == nil || tr.pending != nil || len(tr.rcpts) != 0 {
		t.Fatalf("after a new MAIL: %+v, want a transaction without recipients", tr)
	}
	h.Rcpt(tx, "ceo@example.org")
	h.Helo(tx, "again.example")
	if tr := txn("t1"); tr != nil {
		t.Fatalf("after HELO: %+v, want no transaction", tr)
	}
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org")
	h.Data(sessionTxn("t1", "a@example.net", rc("ceo@example.org")), plainMsg)
	if tr := txn("t1"); tr != nil {
		t.Fatalf("after data: %+v, want no transaction", tr)
	}

	// ceo@ taken (the next RCPT shows it), then RSET; the next MAIL is
	// accepted by a stage before the filter, which is not asked: its
	// first RCPT's envelope lacks ceo@, so the record is another
	// transaction's.
	tx = sessionTxn("t2", "a@example.net")
	h.Connect(tx.Session)
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org")
	tx.Envelope.Rcpts = []sdk.Recipient{rc("ceo@example.org")}
	h.Rcpt(tx, "bob@example.org")
	tx.Envelope.Rcpts = nil
	h.Rcpt(tx, "dave@example.org")
	at := sessionTxn("t2", "a@example.net", rc("dave@example.org"))
	if v := h.Data(at, plainMsg); len(v.Edits) != 0 {
		t.Errorf("next transaction: edits %v, want none (reason %q)", v.Edits, v.Reason)
	}
}

// A session that never reaches DATA is forgotten after the TTL, and the
// record never holds more than max sessions; the data hook of a
// forgotten one evaluates the rules again, and says so.
func TestDecisionsBounded(t *testing.T) {
	clk := newClock()
	d := newDecisions(clk.Now)
	d.max = 16
	for i := range 100 {
		d.connect(fmt.Sprintf("c%d", i), sdk.Continue(), nil)
		clk.Advance(time.Second)
	}
	if n := len(d.sessions); n > 16 {
		t.Fatalf("%d sessions kept, want at most 16", n)
	}
	if _, ok := d.sessions["c99"]; !ok {
		t.Error("the latest session was dropped, not the oldest")
	}
	clk.Advance(decisionsTTL)
	if d.take(&sdk.Session{ID: "c99"}) != nil {
		t.Error("a session idle for the TTL was still taken")
	}
	d.connect("new", sdk.Continue(), nil)
	if n := len(d.sessions); n != 1 {
		t.Errorf("%d sessions after the TTL, want the new one alone", n)
	}
	d.connect("refused", sdk.Reject(554, "5.7.1", "no"), nil)
	if _, ok := d.sessions["refused"]; ok {
		t.Error("a refused connection is kept")
	}

	p := &Plugin{now: clk.Now}
	h := serve(t, p, decidedConfig)
	tx := sessionTxn("idle", "a@example.net")
	h.Connect(tx.Session)
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org")
	clk.Advance(2 * decisionsTTL)
	v := h.Data(sessionTxn("idle", "a@example.net", rc("ceo@example.org")), plainMsg)
	if got := addedRcpts(v); !slices.Equal(got, []string{"audit@sluice.test NOTIFY=NEVER"}) {
		t.Errorf("forgotten session: added %v, want the copy (the rule matched again)", got)
	}
	if !strings.Contains(v.Reason, "evaluated again at data") {
		t.Errorf("reason %q: want the evaluation again noted", v.Reason)
	}
}

// numbered is sessionTxn in transaction n of its session, as a core that
// numbers them sends it.
func numbered(n int, id, from string, rcpts ...sdk.Recipient) *sdk.Txn {
	t := sessionTxn(id, from, rcpts...)
	t.Session.Transaction = n
	return t
}

// With the core's transaction numbers, what the filter recorded of one
// transaction never acts on another: not a mail rule's match of a
// transaction the client reset, when the next one's MAIL was accepted by
// a stage before the filter (so the filter was not asked), nor a
// recipient matched there and refused by a later stage, when the next
// one's recipients were accepted before the filter too. A mail call that
// comes after its transaction's first rcpt (the core gave up waiting,
// and it finished later) keeps what that rcpt recorded.
func TestDecisionsKeyedByTransaction(t *testing.T) {
	h := serve(t, nil, decidedConfig)
	tx := numbered(0, "k1", "sales@partner.example")
	h.Connect(tx.Session)
	h.Helo(tx, tx.Session.Helo)
	tx = numbered(1, "k1", "sales@partner.example")
	h.Mail(tx)
	h.Rcpt(tx, "ceo@example.org") // refused by a later stage; then RSET
	at := numbered(2, "k1", "a@example.net", rc("allow@example.org"))
	v := h.Data(at, plainMsg)
	if len(v.Edits) != 0 {
		t.Errorf("transaction 2: edits %v, want none: the matches were transaction 1's (reason %q)", v.Edits, v.Reason)
	}

	tx = numbered(3, "k1", "a@example.net")
	h.Rcpt(tx, "ceo@example.org")
	h.Mail(tx) // late
	at = numbered(3, "k1", "a@example.net", expanded("alice@example.org", "ceo@example.org"))
	if got := addedRcpts(h.Data(at, plainMsg)); !slices.Equal(got, []string{"audit@sluice.test NOTIFY=NEVER"}) {
		t.Errorf("late mail call: added %v, want the copy ceo@'s RCPT decided", got)
	}
}

// A call of an earlier transaction that finishes after the next one has
// begun (the core gave up waiting for it, and the client went on with a
// RSET and a new MAIL) records nothing over the new transaction's record:
// a late rcpt or mail call of transaction 1, or a late helo call that
// ended it, arriving between transaction 2's RCPT ceo@ and its next RCPT.
// Before, the late call replaced transaction 2's record, the next rcpt
// call found it another transaction's and started afresh as if its
// recipients were known, and ceo@'s copy was never made.
func TestLateCallOfEarlierTransaction(t *testing.T) {
	h := serve(t, nil, decidedConfig)
	for _, late := range []string{"rcpt", "mail", "helo"} {
		id := "late-" + late
		tx := numbered(0, id, "a@example.net")
		h.Connect(tx.Session)
		h.Helo(tx, tx.Session.Helo)
		tx = numbered(2, id, "a@example.net")
		h.Mail(tx)
		h.Rcpt(tx, "ceo@example.org")
		old := numbered(1, id, "a@example.net")
		switch late {
		case "rcpt":
			h.Rcpt(old, "cfo@example.org")
		case "mail":
			h.Mail(old)
		case "helo":
			h.Helo(old, old.Session.Helo)
		}
		tx.Envelope.Rcpts = []sdk.Recipient{rc("ceo@example.org")}
		h.Rcpt(tx, "bob@example.org")
		at := numbered(2, id, "a@example.net", rc("ceo@example.org"), rc("bob@example.org"))
		v := h.Data(at, plainMsg)
		if got := addedRcpts(v); !slices.Equal(got, []string{"audit@sluice.test NOTIFY=NEVER"}) {
			t.Errorf("late %s call of transaction 1: added %v, want ceo@'s copy (reason %q)", late, got, v.Reason)
		}
		if got := rcptsAfter(at, v); slices.Contains(got, "review@sluice.test") {
			t.Errorf("late %s call of transaction 1: recipients %v: transaction 1's cfo@ redirected transaction 2", late, got)
		}
	}
}
