package delivery

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A next hop's reply text with a bare CR, an escape sequence and a NUL
// in it (found by FuzzServerReplies), to RCPT and to the data: the reply
// kept for the recipient is stored, logged, shown by the queue commands
// and quoted in reports, so it is kept printable on one line, as
// Postfix's smtp client keeps a reply. A bare CR in it rewrote the line
// it was shown on, an escape sequence acted on the operator's terminal.
func TestReplyTextControlCharacters(t *testing.T) {
	s := startScripted(t, "127.0.0.1:0", "220 mx.test", func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "RCPT TO:<bad@"):
			return "550-5.1.1 first\r\n550 5.1.1 no\rsuch \x1b[2Juser\x00\x7f"
		case cmd == ".":
			return "250 2.0.0 queued\ras \xc2\x9b2J\tX"
		}
		return ""
	})
	h := newHarness(t)
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "bad@dest.test", "good@dest.test"))
	rec := h.recorded(id)
	if r, want := rcpt(rec, "bad@dest.test"), "550 5.1.1 first no?such ?[2Juser??"; r.Status != envelope.RcptFailed || r.LastReply != want {
		t.Errorf("recipient %+v, want failed with %q", r, want)
	}
	// The text of the 250 to the data too; a C1 control (CSI) is one.
	if r, want := rcpt(rec, "good@dest.test"), "250 2.0.0 queued?as ?2J\tX"; r.Status != envelope.RcptDelivered || r.LastReply != want {
		t.Errorf("recipient %+v, want delivered with %q", r, want)
	}
}

// An error of ours that quotes the outside world (a TLS verification error
// names the certificate's DNS names, which the next hop chose) is stored
// printable too.
func TestTemporaryErrorTextPrintable(t *testing.T) {
	o := outcomeOf(errors.New("tls: x509: certificate is valid for evil\x1b[2J.example\r, not mx.example.org"))
	if o.status != envelope.RcptPending || strings.ContainsAny(o.reply, "\x1b\r") || !strings.Contains(o.reply, "evil?[2J.example?") {
		t.Fatalf("outcome %+v", o)
	}
}
