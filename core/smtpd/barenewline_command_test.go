package smtpd

import (
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

// bareLFCommandRefused is the refusal of a command line ended by a bare
// LF, Postfix 3.9's with smtpd_forbid_bare_newline = reject, after the
// code.
const bareLFCommandRefused = " 5.5.2 mx.test Error: bare <LF> received"

// Under bare_newline = "reject" a command line ended by a bare LF (RFC
// 5321 §2.3.8) is refused as Postfix 3.9's smtpd_forbid_bare_newline =
// reject refuses it: bare_newline_reject_code, 5.5.2, "<hostname> Error:
// bare <LF> received". The command is not run, before EHLO as in a
// transaction; after a 550 the session goes on, after a 521 it closes.
// The refusal is logged and counted as the refused messages are.
func TestBareLFCommandRejected(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withBareNewlineRule(550, nil), withMetrics(m))
	d := h.dial()
	d.raw("EHLO client.test\n")
	d.expect("550" + bareLFCommandRefused)
	d.ehlo()
	d.raw("MAIL FROM:<a@example.org>\n")
	d.expect("550" + bareLFCommandRefused)
	// The refused MAIL was not run: this one is no nested MAIL.
	d.envelope("b@example.org")
	d.raw("RCPT TO:<c@example.org>\n")
	d.expect("550" + bareLFCommandRefused)
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nok\r\n.\r\n")
	d.queued()
	if ms := h.messages(); len(ms) != 1 || len(ms[0].Rcpts) != 1 || ms[0].Rcpts[0].Addr != "b@example.org" {
		t.Fatalf("queued %+v, want one message for b@example.org alone", ms)
	}
	logLine(t, h, `msg="bare <LF> received"`, "listener=mx", "command=RCPT", "action=rejected")
	if got := counts(t, m, "sluice_smtp_bare_newlines_total", "listener", "action"); got["mx rejected"] != 3 || len(got) != 1 {
		t.Errorf("counted %v, want 3 rejected", got)
	}

	h = start(t, withBareNewlineRule(521, nil))
	d = h.dial()
	d.ehlo()
	d.raw("MAIL FROM:<a@example.org>\n")
	d.expect("521" + bareLFCommandRefused)
	d.expectClosed()
}

// bare_newline_exclusions (relay_networks unless written) spare a client
// under "reject": its bare-LF command lines are run as if they ended in
// CRLF, as under "normalize", the default, where every client's are.
// Each case is set against one that refuses the same client.
func TestBareLFCommandSpared(t *testing.T) {
	reject := withBareNewline(config.BareNewlineReject)
	for _, tc := range []struct {
		name            string
		spared, refused []func(*Options)
		code            string // the refusal's
	}{
		{"normalize", nil, []func(*Options){reject}, "550"},
		{"relay_networks", []func(*Options){reject, withRelayLoopback}, []func(*Options){reject}, "550"},
		{"exclusions", []func(*Options){withBareNewlineRule(521, []string{"192.0.2.0/24", "127.0.0.1"})},
			[]func(*Options){withBareNewlineRule(521, []string{}), withRelayLoopback}, "521"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := start(t, tc.spared...).dial()
			d.raw("EHLO client.test\n")
			for l := d.line(); l[:4] != "250 "; l = d.line() {
			}
			d.raw("MAIL FROM:<a@example.org>\n")
			d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>")
			d.raw("RCPT TO:<b@example.org>\n")
			d.expect("250 2.0.0 I'll make sure <b@example.org> gets this")
			d.raw("DATA\n")
			d.expect("354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			d.raw("Subject: x\r\n\r\nok\r\n.\r\n")
			d.queued()

			d = start(t, tc.refused...).dial()
			d.ehlo()
			d.raw("MAIL FROM:<a@example.org>\n")
			d.expect(tc.code + bareLFCommandRefused)
		})
	}
}
