package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A STARTTLS answered with a refusal (454 4.7.0, or a 5xx) leaves the
// session as it was (RFC 3207 §4): under opportunistic TLS the mail goes
// in plaintext on the same connection, as Postfix's smtp client goes on.
// A 421 closes the session, and the mail goes on a new connection. The
// connection was always closed without QUIT and dialled again.
func TestSTARTTLSRefusedGoesOnInPlaintext(t *testing.T) {
	for _, tc := range []struct {
		reply string
		conns int
	}{
		{"454 4.7.0 TLS not available due to local problem", 1},
		{"502 5.5.1 not now", 1},
		{"421 4.7.0 closing", 2},
	} {
		t.Run(tc.reply[:3], func(t *testing.T) {
			srv := startScripted(t, "127.0.0.1:0", "220 notls.test", func(cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "EHLO"):
					return "250-notls.test\r\n250-PIPELINING\r\n250 STARTTLS"
				case cmd == "STARTTLS":
					return tc.reply
				}
				return ""
			})
			h := newHarness(t)
			h.opt.Config.Relay = srv.addr
			h.start()
			id := h.enqueue(msg("", "a@dest.test"))
			if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered {
				t.Fatalf("%s %q, want delivered in plaintext", r.Status, r.LastReply)
			}
			if n := srv.connections(); n != tc.conns {
				t.Errorf("%d connections, want %d; commands %q", n, tc.conns, srv.commands())
			}
		})
	}
}
