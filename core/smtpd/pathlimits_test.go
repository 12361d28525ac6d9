package smtpd

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// RFC 5321 §4.5.3.1.1-3: a local part over 64 octets, a domain over 255
// and a path over 256 are answered "501 Path too long" (§4.5.3.1.10),
// naming the limit, in MAIL and RCPT; a path of exactly 256 octets is
// taken. The client may relay (127.0.0.1 in relay_networks), so the
// length alone decides.
func TestPathTooLong(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxErrors = 20 }), func(o *Options) {
		o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
	})
	d := h.dial()
	d.ehlo()
	local65 := strings.Repeat("l", 65)
	d.cmd("MAIL FROM:<"+local65+"@example.org>",
		"501 5.1.7 Path too long: local part over 64 octets (RFC 5321 section 4.5.3.1.1)")
	// Quoted, the quotes count: 62 octets and a space are 65 on the wire.
	d.cmd(`MAIL FROM:<"`+strings.Repeat("l", 62)+` "@example.org>`,
		"501 5.1.7 Path too long: local part over 64 octets (RFC 5321 section 4.5.3.1.1)")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<"+local65+"@example.org>",
		"501 5.1.3 Path too long: local part over 64 octets (RFC 5321 section 4.5.3.1.1)")
	d.cmd("RCPT TO:<a@"+strings.Repeat("a.", 127)+"oo>",
		"501 5.1.3 Path too long: domain over 255 octets (RFC 5321 section 4.5.3.1.2)")
	d.cmd("RCPT TO:<a@"+strings.Repeat("a.", 125)+"org>",
		"501 5.1.3 Path too long: path over 256 octets (RFC 5321 section 4.5.3.1.3)")
	fits := "a@" + strings.Repeat("a.", 125) + "or" // <fits> is 256 octets
	d.cmd("RCPT TO:<"+fits+">", "250 2.0.0 I'll make sure <"+fits+"> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
	d.queued()
	if m, _ := h.only(); len(m.Rcpts) != 1 || m.Rcpts[0].Addr != fits {
		t.Fatalf("recipients %+v, want only %s", m.Rcpts, fits)
	}
}

// An address literal of the address the client connected to names this
// host (RFC 5321 §4.1.3): its recipients are those of the domain
// RCPT TO:<Postmaster> reaches, the first local domain. Queued with the
// literal, the message went back to the literal's address, this listener,
// until max_hops refused it. The client hears its own form; the same
// mailbox at the domain is one recipient.
func TestOwnAddressLiteralIsLocal(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxRecipients = 10 }))
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	for _, rcpt := range []string{"postmaster@[127.0.0.1]", "b@example.org", "b@[127.0.0.1]", `"c d"@[IPv6:::ffff:127.0.0.1]`} {
		d.cmd("RCPT TO:<"+rcpt+">", "250 2.0.0 I'll make sure <"+rcpt+"> gets this")
	}
	// Another host's literal is still a relay attempt.
	d.cmd("RCPT TO:<b@[127.0.0.2]>", "554 5.7.1 Relay access denied")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nhi\r\n.\r\n")
	d.queued()
	m, _ := h.only()
	var got []string
	for _, rc := range m.Rcpts {
		got = append(got, rc.Addr)
	}
	if want := `postmaster@example.org,b@example.org,"c d"@example.org`; strings.Join(got, ",") != want {
		t.Fatalf("recipients %q, want %s", got, want)
	}
}
