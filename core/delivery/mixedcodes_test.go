package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A multi-line reply whose last line has another code than the first
// (RFC 5321 §4.2.1 forbids it) ends at that line and takes its code, as
// Postfix reads it: a pipelined MAIL answered "250-ok" then "550 …" fails
// the recipient with the 550, and one answered "550-…" then "250 ok"
// goes on to deliver. The last line was taken for text and the reply read
// on into the next command's: the RCPT got DATA's 354 (pending, "354 go
// ahead"), or the client waited out the command timeout.
func TestReplyLinesWithOtherCodes(t *testing.T) {
	refuse := startScripted(t, "127.0.0.1:0", "220 x.test", func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL ") {
			return "250-ok\r\n550 5.7.1 sender refused"
		}
		return ""
	})
	take := startScripted(t, "127.0.0.1:0", "220 x.test", func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL ") {
			return "550-5.7.1 on second thoughts\r\n250 ok"
		}
		return ""
	})
	h := newHarness(t)
	h.start()
	id := h.enqueue(withRoutes("", "a@refuse.test", "smtp:"+refuse.addr, "b@take.test", "smtp:"+take.addr))
	rec := h.recorded(id)
	if r := rcpt(rec, "a@refuse.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "550 ") {
		t.Errorf("a: %s %q, want failed with the 550", r.Status, r.LastReply)
	}
	if r := rcpt(rec, "b@take.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("b: %s %q, want delivered", r.Status, r.LastReply)
	}
}
