package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A reply Sluice makes itself about the server it reached (the server
// offers no SMTPUTF8, announces a SIZE the message exceeds, drops the
// connection) is no reply of that server's: the recipient records no
// Remote-MTA, and a report quotes the reply as X-Sluice, not smtp (RFC
// 3464 §2.3.5, §2.3.6), as Postfix reports such failures (X-Postfix, no
// Remote-MTA: DSN_BY_LOCAL_MTA). The log line still names the server.
// A server's own refusal keeps both. Before, the server was named as
// having given Sluice's reply, its Diagnostic-Code "smtp; 553 5.6.7 …".
func TestOwnReplyAboutAServerNamesNoRemoteMTA(t *testing.T) {
	const intl = "From: Jörg <s@origin.test>\r\nTo: <r@dest.test>\r\nSubject: Grüße\r\n\r\nGrüße\r\n"
	for _, tc := range []struct {
		name, ehlo, at, answer string // the server's EHLO reply, and its answer to the command starting with at
		intl                   bool   // the message needs SMTPUTF8
		status                 envelope.RcptStatus
		reply, remote          string // the reply recorded (its start), the Remote-MTA
	}{
		{name: "no SMTPUTF8", intl: true, status: envelope.RcptFailed, reply: "553 5.6.7 "},
		{name: "over SIZE", ehlo: "250-scripted.test\r\n250 SIZE 10", status: envelope.RcptFailed, reply: "552 5.3.4 "},
		{name: "connection dropped at the final dot", at: ".", answer: "drop", status: envelope.RcptPending},
		{name: "the server's 550", at: "RCPT ", answer: "550 5.1.1 no such user", status: envelope.RcptFailed,
			reply: "550 5.1.1 no such user", remote: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var logs lockedBuffer
			h.logTo(&logs)
			s := startScripted(t, "127.0.0.1:0", "220 scripted.test", func(cmd string) string {
				switch {
				case tc.ehlo != "" && strings.HasPrefix(cmd, "EHLO"):
					return tc.ehlo
				case tc.at != "" && strings.HasPrefix(cmd, tc.at):
					return tc.answer
				}
				return ""
			})
			h.opt.Config.Relay = s.addr
			h.start()
			m := msg("", "r@dest.test") // the null sender: no report to wait for
			body := testBody
			if tc.intl {
				m.SMTPUTF8, body = true, intl
			}
			id := h.enqueueBody(m, body)
			r := rcpt(h.recorded(id), "r@dest.test")
			if r.Status != tc.status || !strings.HasPrefix(r.LastReply, tc.reply) || r.RemoteMTA != tc.remote {
				t.Errorf("recorded %s %q Remote-MTA %q, want %s %q… Remote-MTA %q", r.Status, r.LastReply, r.RemoteMTA,
					tc.status, tc.reply, tc.remote)
			}
			if !strings.Contains(logs.String(), "via=127.0.0.1[127.0.0.1]:") {
				t.Errorf("the recipient's line does not name the server:\n%s", logs.String())
			}
		})
	}
}

// The report on such a failure says whose reply it is.
func TestOwnReplyReportedAsXSluice(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{noSMTPUTF8: true})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "r@dest.test")
	m.SMTPUTF8 = true
	h.enqueueBody(m, "From: Jörg <s@origin.test>\r\nTo: <r@dest.test>\r\nSubject: Grüße\r\n\r\nGrüße\r\n")
	d := waitReport(t, s)
	r := d.rcpt(t, "r@dest.test")
	if r.Has("Remote-MTA") || !strings.HasPrefix(r.Get("Diagnostic-Code"), "X-Sluice; 553 5.6.7 ") || r.Get("Status") != "5.6.7" {
		t.Errorf("recipient block %v, want Status 5.6.7, Diagnostic-Code X-Sluice; 553 5.6.7 …, no Remote-MTA", r.Map())
	}
}
