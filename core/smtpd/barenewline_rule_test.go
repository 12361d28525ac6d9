package smtpd

import (
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// sendBareLF sends, in a new transaction, a message with a bare LF by
// DATA.
func (d *dialog) sendBareLF() {
	d.t.Helper()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
}

// bare_newline_exclusions are matched against the client XCLIENT names,
// as Postfix matches smtpd_forbid_bare_newline_exclusions against the
// session's client address at DATA, not against the proxy that sent
// the XCLIENT (here in the exclusions itself).
func TestBareLFExclusionsAfterXClient(t *testing.T) {
	h := start(t, withBareNewlineRule(550, []string{"127.0.0.1", "192.0.2.0/24"}), withXClient("127.0.0.1/32"))
	for addr, spared := range map[string]bool{"198.51.100.1": false, "192.0.2.7": true} {
		d := h.dialAs("127.0.0.1")
		d.ehlo()
		d.cmd("XCLIENT ADDR="+addr, "220 mx.test ESMTP")
		d.ehlo()
		d.sendBareLF()
		if spared {
			d.queued()
		} else {
			d.expect(bareRefused)
		}
	}
}

// Behind a trusted proxy, the client its PROXY header names is the one
// bare_newline_exclusions are matched against; the proxy's own
// connection (v1 UNKNOWN) is never spared, though its address is in
// them, as it is never in relay_networks.
func TestBareLFExclusionsBehindProxy(t *testing.T) {
	h := start(t, withBareNewlineRule(550, []string{"127.0.0.1", "192.0.2.0/24"}), withProxy(0, "127.0.0.1/32"))
	for _, tc := range []struct {
		header string
		spared bool
	}{
		{"PROXY TCP4 192.0.2.1 127.0.0.1 1234 25\r\n", true},
		{"PROXY TCP4 198.51.100.1 127.0.0.1 1234 25\r\n", false},
		{"PROXY UNKNOWN\r\n", false},
	} {
		d := h.proxied([]byte(tc.header))
		d.ehlo()
		d.sendBareLF()
		if tc.spared {
			d.queued()
		} else {
			d.expect(bareRefused)
		}
	}
}

// Under soft_bounce a bare_newline_reject_code of 521 goes out as 421
// 4.5.2, and the connection is closed after it as after the 521, in
// DATA and at BDAT LAST (Postfix's smtpd hangs up after a 421 too); the
// log says what it was.
func TestBareLF521UnderSoftBounce(t *testing.T) {
	const softRefused = "421 4.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)"
	h := start(t, withBareNewlineRule(521, nil), withSoftBounce)
	d := h.dial()
	d.ehlo()
	d.sendBareLF()
	d.expect(softRefused)
	d.expectClosed()

	const chunk = "Subject: x\r\n\r\nbare\nLF\r\n"
	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.send(fmt.Sprintf("BDAT %d LAST", len(chunk)))
	d.raw(chunk)
	d.expect(softRefused)
	d.expectClosed()
	logLine(t, h, `soft_bounce="turned 521 5.5.2"`)
	if n := len(h.messages()); n != 0 {
		t.Fatalf("queue holds %d messages", n)
	}
}

// A reload that makes the reject code 521 leaves a connection accepted
// before it with its 550 and its session, as an smtpd process Postfix
// started before a reload keeps the settings it read.
func TestBareLFRejectCodeReloadKeepsOpenConnections(t *testing.T) {
	h := start(t, withBareNewlineRule(550, []string{}))
	before := h.dial()
	before.ehlo()
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].BareNewlineRejectCode = 521
	if ch, err := h.srv.SetListeners(lcs); err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	before.sendBareLF()
	before.expect(bareRefused)
	before.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

	after := h.dial()
	after.ehlo()
	after.sendBareLF()
	after.expect("521 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
	after.expectClosed()
}
