package smtpd

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// The client is 127.0.0.1; the base config lets only 192.0.2.0/24 relay.
func TestRelayDenied(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<x@[192.0.2.1]>", "554 5.7.1 Relay access denied")
	// Local domains are matched without regard to case.
	d.cmd("RCPT TO:<b@EXAMPLE.org>", "250 2.0.0 I'll make sure <b@EXAMPLE.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	// Each refusal's log line names the sender and the refused recipient.
	if l := h.logs.String(); !strings.Contains(l, `msg=rejected stage=rcpt listener=mx client=127.0.0.1 helo=client.test from=a@example.org rcpt=x@elsewhere.example reply="554 5.7.1 Relay access denied`) {
		t.Errorf("log lacks the refused recipient's line:\n%s", l)
	}
	if m, _ := h.only(); len(m.Rcpts) != 1 {
		t.Errorf("recipients %+v, want only the local one", m.Rcpts)
	}
}

func TestRelayAllowedFromRelayNetworks(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
	})
	d := h.dial()
	d.ehlo()
	d.envelope("x@elsewhere.example")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: relayed\r\n\r\n.\r\n")
	d.queued()
	if m, _ := h.only(); m.Rcpts[0].Addr != "x@elsewhere.example" {
		t.Errorf("recipient %q", m.Rcpts[0].Addr)
	}
}

func TestAddressSyntax(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	// go-smtp's own parser refuses what is not a path at all.
	d.cmd("MAIL FROM:a", "501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>")
	d.cmd("MAIL FROM:<a@bad..example>", "501 5.1.7 Bad sender address syntax")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for _, rcpt := range []string{"b@c@example.org", "b@-example.org", "b@exa_mple.org", "b@[300.1.1.1]", "b@example.org."} {
		d.cmd("RCPT TO:<"+rcpt+">", "501 5.1.3 Bad recipient address syntax")
	}
	d.cmd("RCPT TO:<nobody>", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>")
	// A quoted local part is kept quoted on the wire form.
	d.cmd(`RCPT TO:<"b c"@example.org>`, `250 2.0.0 I'll make sure <"b c"@example.org> gets this`)
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	if m, _ := h.only(); m.Rcpts[0].Addr != `"b c"@example.org` {
		t.Errorf("recipient %q", m.Rcpts[0].Addr)
	}
}

// RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter.
func TestSMTPUTF8(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<j\xc3\xb6rg@example.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8")
	d.cmd("MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", "250 2.0.0 Roger, accepting mail from <j\xc3\xb6rg@example.org>")
	d.cmd("RCPT TO:<m\xc3\xbcller@example.org>", "250 2.0.0 I'll make sure <m\xc3\xbcller@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	m, body := h.only()
	if !m.SMTPUTF8 || m.From != "j\xc3\xb6rg@example.org" {
		t.Errorf("envelope %+v", m)
	}
	if want := "with UTF8SMTP id "; !strings.Contains(string(body), want) {
		t.Errorf("Received lacks %q:\n%s", want, body)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<m\xc3\xbcller@example.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8")
}
