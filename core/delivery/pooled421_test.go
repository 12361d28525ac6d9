package delivery

import (
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// chasquid counts the errors of a session and, at its limit, answers the
// next failing command with "421 4.5.0 Too many errors, bye" instead of
// its reply and hangs up. A session pooled after a refused recipient (its
// 550 and the pipelined DATA's 554 count) so met a 421 at the next
// message's RCPT: the recipient, one chasquid would take on a new
// connection, was deferred and the destination put in backoff, and each
// retry behind the backoff reused a session with errors again. Like a 421
// to MAIL (stale), a 421 or a lost connection at RCPT on a reused session
// says nothing about the recipient: the transaction is redone on a new
// session.
func TestPooledSession421AtRcptRetriedOnNewSession(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		switch {
		case addr == "bad@dest.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case addr == "good@dest.test" && n == 1:
			// The first RCPT for good@ comes on the pooled session.
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 5, 0}, Message: "Too many errors, bye"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	id1 := h.enqueue(msg("", "bad@dest.test")) // the null sender: no report to deliver meanwhile
	if r := rcpt(h.recorded(id1), "bad@dest.test"); r.Status != envelope.RcptFailed {
		t.Fatalf("refused recipient: %+v", r)
	}
	id2 := h.enqueue(msg("s@origin.test", "good@dest.test"))
	if r := rcpt(h.recorded(id2), "good@dest.test"); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
		t.Fatalf("%+v: a 421 at RCPT on a reused session must not cost an attempt", r)
	}
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2 (the pooled one, then a new one)", n)
	}
}
