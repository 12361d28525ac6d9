package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A 250 to the final dot that runs past 64 KiB (the bound on every other
// reply) is read to its end and delivers, as Postfix reads it. It ended
// as a lost connection after the server had the message, and each retry
// delivered it again.
func TestHugeReplyToTheDotDelivers(t *testing.T) {
	huge := strings.Repeat("250-"+strings.Repeat("q", 76)+"\r\n", 1600) + "250 2.0.0 queued"
	srv := startScripted(t, "127.0.0.1:0", "220 huge.test", func(cmd string) string {
		if cmd == "." {
			return huge
		}
		return ""
	})
	h := newHarness(t)
	h.opt.Config.Relay = srv.addr
	h.start()
	id := h.enqueue(msg("", "a@dest.test"))
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%s %.100q, want delivered", r.Status, r.LastReply)
	}
}
