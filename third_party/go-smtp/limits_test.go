package smtp_test

import (
	"bufio"
	"testing"

	"github.com/emersion/go-smtp"
)

// Server.Limits gives the LIMITS parameter of each EHLO (RFC 9422), in
// place of MaxRecipients' RCPTMAX, and "" none; without it MaxRecipients
// advertises as in v0.25.1.
func TestServerLimits(t *testing.T) {
	for _, c := range []struct {
		name   string
		limits func(*smtp.Conn) string
		max    int
		want   string
	}{
		{"hook", func(*smtp.Conn) string { return "RCPTMAX=7 MAILMAX=3" }, 50, "LIMITS RCPTMAX=7 MAILMAX=3"},
		{"none", func(*smtp.Conn) string { return "" }, 50, ""},
		{"MaxRecipients", nil, 50, "LIMITS RCPTMAX=50"},
		{"neither", nil, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s, conn, _ := testServer(t, func(s *smtp.Server) {
				s.Limits, s.MaxRecipients = c.limits, c.max
			})
			t.Cleanup(func() { conn.Close(); s.Close() })
			rc := &rawClient{t: t, c: conn, r: bufio.NewReader(conn)}
			rc.expect("220 localhost ESMTP Service Ready")
			var got string
			for _, l := range rc.ehloCaps() {
				if len(l) >= 6 && l[:6] == "LIMITS" {
					got = l
				}
			}
			if got != c.want {
				t.Errorf("LIMITS line %q, want %q", got, c.want)
			}
		})
	}
}
