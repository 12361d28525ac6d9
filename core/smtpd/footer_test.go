package smtpd

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// testFooter is a two-line reject_footer with every macro.
const testFooter = `For help see https://example.org/help\nquote $client_address:$client_port at $localtime to $hostname/$listener`

// withFooter sets the "mx" listener's reject_footer (config.Parse gives
// a listener the top-level one; the server reads the listener's).
func withFooter(tmpl string) func(*Options) {
	return func(o *Options) { o.Config.Listeners[0].RejectFooter = tmpl }
}

// footerLines are testFooter's lines, each after lead ("554-5.7.1 ",
// the last with a space for the hyphen), for the client d: its port,
// the injected clock's time.
func (d *dialog) footerLines(lead string) []string {
	port := strconv.Itoa(d.c.LocalAddr().(*net.TCPAddr).Port)
	when := testClock.Format(rejectfooter.LocalTimeLayout) // "Mar 04 05:06:07"
	return []string{
		lead + "For help see https://example.org/help",
		lead[:3] + " " + lead[4:] + "quote 127.0.0.1:" + port + " at " + when + " to mx.test/mx",
	}
}

// Every 4xx and 5xx reply gets the footer's lines, each with the reply's
// code and enhanced code (RFC 5321 §4.2.1, RFC 2034 §4), the macros
// filled in: the built-in relay refusal, a stage's 550, go-smtp's own
// syntax error. A 2xx is untouched, and the log gives the reply alone.
func TestRejectFooter(t *testing.T) {
	h := start(t, withFooter(testFooter), func(o *Options) { o.Policy = &testPolicy{badRcpt: "spam@example.org"} })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.send("RCPT TO:<x@elsewhere.example>")
	d.expect("554-5.7.1 Relay access denied")
	d.expect(d.footerLines("554-5.7.1 ")...)
	d.send("RCPT TO:<spam@example.org>")
	d.expect("550-5.1.1 No such user")
	d.expect(d.footerLines("550-5.1.1 ")...)
	d.send("VRFY")
	d.expect("501-5.5.4 Syntax: VRFY address")
	d.expect(d.footerLines("501-5.5.4 ")...)
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("QUIT", "221 2.0.0 Bye")
	waitLog(t, h, `rcpt=x@elsewhere.example reply="554 5.7.1 Relay access denied (relaying to elsewhere.example from 127.0.0.1)"`)
}

// "\c" puts the footer's first line on the end of the reply's last;
// under soft_bounce the footer's lines carry the 4xx the client gets.
func TestRejectFooterJoinedAndSoftBounce(t *testing.T) {
	h := start(t, withFooter(`\c (see https://example.org/help)\nserver $hostname`), withSoftBounce)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.send("RCPT TO:<x@elsewhere.example>")
	d.expect("454-4.7.1 Relay access denied (see https://example.org/help)", "454 4.7.1 server mx.test")
}

// The replies written outside go-smtp are footed too: a connect
// refusal in the greeting's place and the 503s after it, the 554 to an
// early talker, Shutdown's 421.
func TestRejectFooterOutsideSessions(t *testing.T) {
	refused := start(t, withFooter(testFooter), func(o *Options) { o.Policy = &testPolicy{connect: &blocked} })
	d := dialConn(t, refused.addr("mx"))
	d.expect("554-5.7.1 Blocked")
	d.expect(d.footerLines("554-5.7.1 ")...)
	d.send("EHLO client.test")
	d.expect("503-5.5.1 Bad sequence of commands")
	d.expect(d.footerLines("503-5.5.1 ")...)
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()

	paused := start(t, withFooter(testFooter), withGreetPause(longPause))
	d = dialConn(t, paused.addr("mx"))
	d.send("EHLO bot.example")
	d.expect(banner, "554-5.5.0 Error: SMTP protocol synchronization")
	d.expect(d.footerLines("554-5.5.0 ")...)
	d.expectClosed()

	h := start(t, withFooter(testFooter))
	d = h.dial()
	d.ehlo()
	errc := shutdownAsync(h)
	d.expect("421-4.3.2 Service shutting down, try again later")
	d.expect(d.footerLines("421-4.3.2 ")...)
	d.expectClosed()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// banner is the greeting's text after the host name, XCLIENT's greeting
// and greet_pause's first line included (greet_pause_banner's default
// follows it, as postscreen's follows smtpd_banner); "" greets with the
// host name alone.
func TestBanner(t *testing.T) {
	withBanner := func(b string) func(*Options) {
		return func(o *Options) { o.Config.Listeners[0].Banner = &b }
	}
	h := start(t, withBanner("ESMTP Sluice at your service"), withGreetPause(100*time.Millisecond))
	d := dialConn(t, h.addr("mx"))
	d.expect("220-mx.test ESMTP Sluice at your service", "220 mx.test ESMTP Sluice at your service")
	d.cmd("QUIT", "221 2.0.0 Bye")

	bare := start(t, withBanner(""))
	d = dialConn(t, bare.addr("mx"))
	d.expect("220 mx.test")
	d.cmd("QUIT", "221 2.0.0 Bye")
}

// A reload's banner and reject_footer apply to the connections accepted
// from then on; one open keeps what it was greeted with.
func TestBannerAndFooterReload(t *testing.T) {
	h := start(t, withFooter("old footer"))
	before := h.dial()
	before.ehlo()
	lc := h.cfg.Listeners[0]
	b := "ESMTP renewed"
	lc.Banner, lc.RejectFooter = &b, "new footer"
	ch, err := h.srv.SetListeners([]config.Listener{lc})
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	after := dialConn(t, h.addr("mx"))
	after.expect("220 mx.test ESMTP renewed")
	after.ehlo()
	for d, footer := range map[*dialog]string{before: "old footer", after: "new footer"} {
		d.send("MAIL FROM:<a@example.org>", "RCPT TO:<x@elsewhere.example>")
		d.expect("250 2.0.0 Roger, accepting mail from <a@example.org>", "554-5.7.1 Relay access denied", "554 5.7.1 "+footer)
	}
}

// A session's 2xx and 3xx replies pay nothing for reject_footer: the
// enhanced code is formatted for a footed reply only. go-smtp's own
// server is swapped for one (setSMTP, as SetLimits does) that hands the
// test the session's connection.
func TestRejectFooterCleanRepliesAllocateNothing(t *testing.T) {
	h := start(t, withFooter(testFooter))
	h.srv.mu.Lock()
	l := h.srv.listeners[0]
	h.srv.mu.Unlock()
	srv := l.newSMTP(h.srv.lim())
	conns := make(chan *smtp.Conn, 1)
	srv.ReplyLines = func(sc *smtp.Conn, code int, ec smtp.EnhancedCode, lines []string) []string {
		select {
		case conns <- sc:
		default:
		}
		return h.srv.replyLines(sc, code, ec, lines)
	}
	l.setSMTP(srv)
	d := h.dial()
	var sc *smtp.Conn
	select {
	case sc = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("no reply went through ReplyLines")
	}
	lines := []string{"Roger"}
	for _, r := range []struct {
		code int
		ec   smtp.EnhancedCode
	}{{250, smtp.EnhancedCode{2, 0, 0}}, {354, smtp.NoEnhancedCode}, {220, smtp.NoEnhancedCode}} {
		if n := testing.AllocsPerRun(100, func() { h.srv.replyLines(sc, r.code, r.ec, lines) }); n != 0 {
			t.Errorf("%d %v: %v allocations a reply, want 0", r.code, r.ec, n)
		}
	}
	d.cmd("QUIT", "221 2.0.0 Bye")
}
