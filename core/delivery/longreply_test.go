package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A reply line longer than RFC 5321's 512 octets is a reply, cut to
// 2048 bytes as Postfix cuts it (line_length_limit): a 250 to the final
// dot delivers the message and a 550 to RCPT fails its recipient. A line
// over 2000 bytes broke the connection, so the 250 to the dot was taken
// for a lost connection and the message, which the server had, was sent
// again at every retry.
func TestLongReplyLineIsAReply(t *testing.T) {
	long := strings.Repeat("x", 3000)
	srv := startScripted(t, "127.0.0.1:0", "220 long.test", func(cmd string) string {
		switch cmd {
		case "RCPT TO:<b@dest.test>":
			return "550 5.1.1 no such user " + long
		case ".":
			return "250 2.0.0 queued " + long
		}
		return ""
	})
	h := newHarness(t)
	h.opt.Config.Relay = srv.addr
	h.start()
	id := h.enqueue(msg("", "a@dest.test", "b@dest.test"))
	rec := h.recorded(id)
	if r := rcpt(rec, "a@dest.test"); r.Status != envelope.RcptDelivered || !strings.HasPrefix(r.LastReply, "250 2.0.0 queued xxx") {
		t.Errorf("a: %s %.80q, want delivered", r.Status, r.LastReply)
	}
	if r := rcpt(rec, "b@dest.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "550 5.1.1 no such user xxx") {
		t.Errorf("b: %s %.80q, want failed", r.Status, r.LastReply)
	}
	n := 0
	for _, c := range srv.commands() {
		if c == "." {
			n++
		}
	}
	if srv.connections() != 1 || n != 1 {
		t.Errorf("%d connections, %d messages, want 1 and 1", srv.connections(), n)
	}
}
