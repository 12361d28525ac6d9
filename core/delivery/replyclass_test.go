package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// MAIL, RCPT and DATA are judged by their reply's first digit (RFC 5321
// §4.2.1), as Postfix judges them: a 251 to MAIL, a 200 to RCPT and a 350
// to DATA go on, with or without PIPELINING. go-smtp's client wanted
// 250, 25x and 354, and the mail was deferred at every retry until it
// expired.
func TestTransactionRepliesByClass(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		ehlo := "250-odd.test\r\n250 8BITMIME"
		if pipelining {
			ehlo = "250-odd.test\r\n250 PIPELINING"
		}
		srv := startScripted(t, "127.0.0.1:0", "220 odd.test", func(cmd string) string {
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				return ehlo
			case strings.HasPrefix(cmd, "MAIL"):
				return "251 2.1.0 sender ok"
			case strings.HasPrefix(cmd, "RCPT"):
				return "200 2.1.5 recipient ok"
			case cmd == "DATA":
				return "350 go on"
			}
			return ""
		})
		h := newHarness(t)
		h.start()
		id := h.enqueue(withRoutes("", "a@odd.test", "smtp:"+srv.addr))
		if r := rcpt(h.recorded(id), "a@odd.test"); r.Status != envelope.RcptDelivered {
			t.Errorf("pipelining %v: %s %q, want delivered", pipelining, r.Status, r.LastReply)
		}
	}
}
