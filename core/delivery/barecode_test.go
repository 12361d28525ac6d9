package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A reply of the code alone ("250", no text: RFC 5321 §4.2 makes the text
// optional) is a reply, to EHLO, RCPT, DATA and the final dot alike, as
// Postfix takes it. It was a "short response": a bare 250 to the dot was
// taken for a lost connection and the message, which the server had, sent
// again at every retry.
func TestReplyOfTheCodeAlone(t *testing.T) {
	srv := startScripted(t, "127.0.0.1:0", "220", func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			return "250-bare.test\r\n250"
		case strings.HasPrefix(cmd, "RCPT"):
			return "250"
		case cmd == "DATA":
			return "354"
		case cmd == ".":
			return "250"
		}
		return ""
	})
	h := newHarness(t)
	h.opt.Config.Relay = srv.addr
	h.start()
	id := h.enqueue(msg("", "a@dest.test"))
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered || !strings.HasPrefix(r.LastReply, "250") {
		t.Fatalf("%s %q, want delivered", r.Status, r.LastReply)
	}
}
