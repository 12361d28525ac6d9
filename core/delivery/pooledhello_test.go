package delivery

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A session pooled after a transaction whose every recipient was refused
// (closed with RSET) carries the next message without a second EHLO:
// OpenSMTPD answers a repeated EHLO, and the HELO after it, with "503 5.5.1
// Invalid command: Already identified", and that reply failed the next
// message for good. RFC 5321 §4.1.1.5: RSET clears the transaction, not
// the session's EHLO.
func TestPooledSessionAfterRefusedTransactionSkipsEHLO(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, _ int) error {
		if addr == "bad@dest.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
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
	if r := rcpt(h.recorded(id2), "good@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("next message: %+v", r)
	}
	if n := s.connections(); n != 1 {
		t.Fatalf("%d connections, want 1 (the session pooled after RSET)", n)
	}
	tr := s.transcript.String()
	if n := strings.Count(tr, "\nRSET\r\n"); n != 1 {
		t.Errorf("%d RSET, want 1 after the refused transaction", n)
	}
	if n := strings.Count(tr, "EHLO "); n != 1 {
		t.Errorf("EHLO sent %d times in one session, want once:\n%s", n, tr)
	}
}
