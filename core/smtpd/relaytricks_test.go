package smtpd

import (
	"net/netip"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// Each relay trick, from a client that may not relay (127.0.0.1; the base
// config lets only 192.0.2.0/24 relay) and from one that may.
func TestRelayTricks(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		name := "untrusted"
		if trusted {
			name = "relay_networks"
		}
		t.Run(name, func(t *testing.T) {
			h := start(t, withLimits(func(l *config.Limits) { l.MaxRecipients = 10 }), func(o *Options) {
				if trusted {
					o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
				}
			})
			d := h.dial()
			d.ehlo()
			d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
			for _, tc := range []struct{ rcpt, want string }{
				// The percent hack and bang paths at our domains.
				{"user%other.example@example.org", "554 5.7.1 Relay access denied"},
				{"other.example!user@example.org", "554 5.7.1 Relay access denied"},
				// Quoted local parts hiding an "@".
				{`"user@other.example"@example.org`, "501 5.1.3 Bad recipient address syntax"},
				// Trailing dots.
				{"user@example.org.", "501 5.1.3 Bad recipient address syntax"},
				{"user@other.example.", "501 5.1.3 Bad recipient address syntax"},
				// Address literals that are not ours.
				{"user@[192.0.2.1]", "554 5.7.1 Relay access denied"},
				{"user@[IPv6:2001:db8::1]", "554 5.7.1 Relay access denied"},
				{"user@[127.0.0.2]", "554 5.7.1 Relay access denied"},
				// Ours is local.
				{"postmaster@[127.0.0.1]", "250 2.0.0 I'll make sure <postmaster@[127.0.0.1]> gets this"},
			} {
				d.cmd("RCPT TO:<"+tc.rcpt+">", tc.want)
			}
			// A source route (RFC 5321 §4.1.2) is refused whoever asks
			// (sourceroute_test.go); the mailbox after it is not judged.
			for _, rcpt := range []string{
				"@example.org,@b.example:user@elsewhere.example",
				"@example.org:user%elsewhere.example@example.org",
				"@elsewhere.example:user@example.org",
			} {
				d.cmd("RCPT TO:<"+rcpt+">", "553 5.7.1 Source routes are not accepted")
			}
			if trusted {
				d.cmd("RCPT TO:<user%x@elsewhere.example>", "250 2.0.0 I'll make sure <user%x@elsewhere.example> gets this")
			} else {
				d.cmd("RCPT TO:<user%x@elsewhere.example>", "554 5.7.1 Relay access denied")
			}
		})
	}
}
