package smtpd

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

// outOfSync is forbid_unauth_pipelining's reply, Postfix's.
const outOfSync = "554 5.5.0 Error: SMTP protocol synchronization"

// withPipelining sets the "mx" listener's forbid_unauth_pipelining.
func withPipelining(forbid bool) func(*Options) {
	return func(o *Options) { o.Config.Listeners[0].ForbidUnauthPipelining = &forbid }
}

// A client that sends commands ahead where it must wait for a reply gets
// Postfix's 554 5.5.0 in place of that command's reply, which is not
// run, and the connection closes: after HELO (no PIPELINING offered),
// after EHLO in the same write, and DATA's content before the 354. One
// INFO line names the command and the first 100 bytes of what came after
// it, and the counter counts it by listener and command. Nothing of the
// transaction is queued.
func TestPipeliningRefused(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, func(o *Options) { o.Metrics = m })
	long := "MAIL FROM:<" + strings.Repeat("x", 120) + "@example.org>\r\n"
	for _, tc := range []struct {
		name, send string // send "": a transaction, then DATA and its content
		log        string
	}{
		{"HELO then MAIL", "HELO bot.example\r\nMAIL FROM:<a@example.org>\r\n",
			`level=INFO msg="improper command pipelining" listener=mx client=127.0.0.1 after=HELO bytes=27 input="MAIL FROM:<a@example.org>\r\n" reply="` + outOfSync + `"`},
		{"EHLO then MAIL", "EHLO bot.example\r\n" + long,
			`after=EHLO bytes=146 input="` + long[:100] + `" reply=`},
		{"DATA and its content", "",
			`helo=client.test after=DATA bytes=23 input="Subject: x\r\n\r\nbody\r\n.\r\n" reply=`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := h.dial()
			if tc.send == "" {
				d.ehlo()
				d.envelope("b@example.org")
				d.send("DATA", "Subject: x", "", "body", ".")
			} else {
				d.raw(tc.send)
			}
			d.expect(outOfSync)
			d.expectClosed()
			waitLog(t, h, tc.log)
		})
	}
	if got := counts(t, m, "sluice_smtp_pipelining_violations_total", "listener", "after"); got["mx HELO"] != 1 || got["mx EHLO"] != 1 || got["mx DATA"] != 1 {
		t.Errorf("violations counted %v, want mx HELO, EHLO and DATA 1 each", got)
	}
	if n := len(h.messages()); n != 0 {
		t.Errorf("%d messages queued, want none", n)
	}
	waitFor(t, func() bool { return h.conns() == 0 })
}

// What the client sent after the command but the server has not read yet
// counts too (Postfix's peekfd): unread sees it without reading it.
func TestPipeliningUnread(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	c := &conn{Conn: sc}
	if got := c.unread(); len(got) != 0 {
		t.Fatalf("unread %q before the client sent anything", got)
	}
	if _, err := io.WriteString(cc, "MAIL FROM:<a@example.org>\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(c.unread()) > 0 })
	if got := string(c.unread()); got != "MAIL FROM:<a@example.org>\r\n" {
		t.Fatalf("unread %q", got)
	}
	buf := make([]byte, 64)
	n, err := sc.Read(buf)
	if err != nil || string(buf[:n]) != "MAIL FROM:<a@example.org>\r\n" {
		t.Fatalf("read %q, %v after the peek", buf[:n], err)
	}
}

// The peek at the socket at work: the RSETs (which may be pipelined)
// and NOOP fill go-smtp's 4096-byte read buffer exactly, so that NOOP
// ends what it has read and the MAIL behind it is still on the socket.
func TestPipeliningSeesSocket(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxJunkCommands = -1 }))
	d := h.dial()
	d.ehlo()
	group := "RSET    \r\n" + strings.Repeat("RSET\r\n", 680) + "NOOP\r\n"
	if len(group) != 4096 {
		t.Fatalf("group of %d bytes", len(group))
	}
	d.raw(group + "MAIL FROM:<a@example.org>\r\n")
	for range 681 {
		d.expect("250 2.0.0 Session reset")
	}
	d.expect(outOfSync)
	d.expectClosed()
	waitLog(t, h, `after=NOOP bytes=27 input="MAIL FROM:<a@example.org>\r\n"`)
}

// Legitimate pipelining goes on as before: MAIL, RCPT and DATA in one
// group after EHLO (RFC 2920 §3.1), the content and the next commands
// after the 354, BDAT chunks with the commands around them (RFC 3030
// §4.2), and STARTTLS followed by commands in the clear still drops
// those (TestSTARTTLSDropsPipelinedPlaintext).
func TestPipeliningAllowed(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.send("MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>", "DATA")
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		"250 2.0.0 I'll make sure <b@example.org> gets this",
		"250 2.0.0 I'll make sure <c@example.org> gets this",
		"354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c1, c2 := "Subject: y\r\n", "\r\nchunked\r\n"
	d.raw("Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%sBDAT %d LAST\r\n%sQUIT\r\n", len(c1), c1, len(c2), c2))
	d.queued()
	d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>",
		"250 2.0.0 I'll make sure <b@example.org> gets this",
		"250 2.0.0 Continue")
	d.queued()
	d.expect("221 2.0.0 Bye")
	if n := len(h.messages()); n != 2 {
		t.Fatalf("%d messages queued, want 2", n)
	}
	if strings.Contains(h.logs.String(), "pipelining") {
		t.Errorf("log:\n%s", h.logs.String())
	}
}

// Under TLS what was read past the command counts, as in the clear: EHLO
// and MAIL in one write after STARTTLS are refused. AUTH with an
// initial response is no group's end: a submission client may pipeline
// MAIL, RCPT and DATA after it.
func TestPipeliningTLS(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	sub, subTLS := withSubmission(t, config.KindSubmissions)
	h := start(t, tlsOpt, sub, withUsers(t, map[string]string{"b@example.org": "pw"}))
	d := h.dialTLS("mx", clientTLS)
	d.send("EHLO c.test", "MAIL FROM:<a@example.org>")
	d.expect(outOfSync)
	d.expectClosed()

	d = dialTLSDirect(t, h.addr("sub"), subTLS)
	d.ehlo()
	d.send("AUTH PLAIN "+plainResp("", "b@example.org", "pw"), "MAIL FROM:<b@example.org>", "RCPT TO:<c@example.org>", "DATA")
	d.expect("235 2.7.0 Authentication succeeded",
		"250 2.0.0 Roger, accepting mail from <b@example.org>",
		"250 2.0.0 I'll make sure <c@example.org> gets this",
		"354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.send("Subject: x", "", ".")
	d.queued()
}

// An unknown command or an empty line runs nothing and is answered 500
// before the check, as Postfix answers one: a client that sends a stray
// CRLF before EHLO, or a verb Sluice does not know in a HELO session, is
// not cut off for what follows it; the command after it is checked.
func TestPipeliningUnknownCommand(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.raw("\r\nEHLO client.test\r\n")
	d.expect("500 5.5.2 Error: bad syntax", "250-mx.test Hello client.test")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
	}
	d.cmd("HELO client.test", "250 mx.test Hello client.test")
	d.send("ETRN example.org", "MAIL FROM:<a@example.org>")
	d.expect("500 5.5.2 Syntax errors, ETRN command unrecognized",
		"250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.send("XFOO", "RCPT TO:<b@example.org>", "DATA")
	d.expect("500 5.5.2 Syntax errors, XFOO command unrecognized", outOfSync)
	d.expectClosed()
	waitLog(t, h, `after=RCPT bytes=6 input="DATA\r\n"`)
}

// XCLIENT from a trusted proxy may be followed by its EHLO in one write,
// as Dovecot's submission proxy sends them, where Postfix refuses it.
func TestPipeliningXClientThenEHLO(t *testing.T) {
	h := start(t, withXClient("127.0.0.1/32"))
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.send("XCLIENT ADDR=192.0.2.1 HELO=orig.example PROTO=ESMTP", "EHLO proxy.test")
	d.expect("220 mx.test ESMTP", "250-mx.test Hello proxy.test")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
	}
	d.sendTo(h, "a@example.org", "b@example.org")
}

// forbid_unauth_pipelining = false keeps the old behaviour: every command
// pipelined is answered in turn, DATA's content after a 354 it did not
// wait for included; a reload turns it on for the connections accepted
// after it.
func TestPipeliningOff(t *testing.T) {
	h := start(t, withPipelining(false))
	d := h.dial()
	d.send("HELO c.test", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA", "Subject: x", "", ".", "QUIT")
	d.expect("250 mx.test Hello c.test",
		"250 2.0.0 Roger, accepting mail from <a@example.org>",
		"250 2.0.0 I'll make sure <b@example.org> gets this",
		"354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.queued()
	d.expect("221 2.0.0 Bye")

	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].ForbidUnauthPipelining = nil
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	d = h.dial()
	d.send("HELO c.test", "MAIL FROM:<a@example.org>")
	d.expect(outOfSync)
	d.expectClosed()
}

// A flood pipelined after EHLO ends at EHLO: the client reads the 554,
// not a reset (the close lingers, conn.linger), and the next client is
// served.
func TestPipeliningFlood(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.raw("EHLO bot.example\r\n" + strings.Repeat("RCPT TO:<b@example.org>\r\n", 20000))
	d.expect(outOfSync)
	d.expectClosed()
	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
}
