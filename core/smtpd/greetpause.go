package smtpd

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/netlist"
)

// greet_pause is Sendmail's greet_pause, Haraka's early_talker and the
// pregreet test of Postfix's postscreen: the greeting is held back, and
// a client that talks before it is refused. RFC 5321 §3.1 has a client
// wait for the greeting; spam bots often send their commands at once.
//
// As postscreen's (postscreen_greet_banner), the pause opens with the
// first line of a multi-line greeting, "220-HOSTNAME ESMTP", and
// go-smtp's 220 is its last: a client must wait for the last line of a
// reply (RFC 5321 §4.2.1), so a bot that answers the first line it reads
// is caught too, not only one that reads none. The 554 that refuses it
// follows a 220- line, against §4.2.1's one code on every line of a
// reply, but only a client that broke that rule first ever gets it
// (postscreen sends its 521 so). greet_pause_banner = false keeps the
// pause silent, as Sendmail's and Haraka's are.
//
// The line is written once the connect checks are done, not at accept:
// their refusal (a DNS list's, a milter's 554) must be a reply of its
// own in the greeting's place, not follow a 220-. Checks that take most
// of the pause leave a bot that little time to answer the line.

// earlyTalk answers a client that talked before the greeting, in place
// of the greeting (RFC 5321 §3.1 allows 554 there): Postfix's smtpd
// words for input out of turn (smtpd_forbid_unauth_pipelining), which
// client authors and log parsers know.
var earlyTalk = reply.Reply{Code: 554, Enhanced: [3]int{5, 5, 0}, Text: "Error: SMTP protocol synchronization"}

const (
	// earlyTalkRead is the most of an early talker's input read, the
	// count the log line gives (postscreen's read buffer).
	earlyTalkRead = 1024
	// earlyTalkShown is the most of it the log line shows, as
	// postscreen's PREGREET line shows 100 bytes.
	earlyTalkShown = 100
	// lateLook is how long a client whose connect checks outlasted the
	// pause is still watched for input before its greeting.
	lateLook = 10 * time.Millisecond
)

// greetPause is a listener's greet_pause and greet_pause_skip as they
// are now; a reload replaces it for the connections accepted after.
type greetPause struct {
	wait   time.Duration // 0: off
	skip   []netip.Prefix
	banner string // greet_pause_banner, after the host name
	teaser bool   // the banner line is written; false: the pause is silent
}

func newGreetPause(lc config.Listener) *greetPause {
	banner, teaser := lc.GreetBanner()
	return &greetPause{wait: lc.GreetPause.Duration, skip: prefixes(lc.GreetPauseSkip), banner: banner, teaser: teaser}
}

// applies reports whether the connection's client waits out the pause:
// not a relay_networks client, nor one in greet_pause_skip (the client
// a PROXY header named, for either), nor a trusted proxy's own
// connection, whose health check a pause could make time out, nor an
// xclient_hosts peer: the client an XCLIENT proxy (nginx) names talked
// to the proxy, which waits for its greeting, so a pause would catch no
// one and hold up every session it relays.
func (g *greetPause) applies(c *conn) bool {
	return g != nil && g.wait > 0 && !c.info.RelayClient && !c.info.proxyOwn() &&
		!netlist.Contains(g.skip, c.info.Client.Addr()) && !c.xclientAllowed()
}

// pause waits out the connection's greet_pause, from since (its
// admission; after the TLS handshake on an implicit-TLS listener, where
// the client always speaks first: admit has completed it), having
// written the banner line if there is one, and reports whether the
// greeting, or its last line, may follow. An early talker is refused
// (earlyTalker); a client that hangs up, or a connection Shutdown ends
// meanwhile, is closed.
func (l *listener) pause(c *conn, nc net.Conn, since time.Time) bool {
	g := c.greet
	if !g.applies(c) {
		return true
	}
	if !l.writeBanner(c, nc) {
		return false
	}
	// A socket deadline runs on the wall clock: Options.Clock, which
	// tests fix, cannot drive it. When the connect checks outlasted the
	// pause, what came during them is still looked at: a read under a
	// deadline already past fails without reading what is there.
	if err := nc.SetReadDeadline(later(since.Add(g.wait), time.Now().Add(lateLook))); err != nil {
		_ = nc.Close()
		return false
	}
	buf := make([]byte, earlyTalkRead)
	c.pausing = true
	n, err := nc.Read(buf)
	c.pausing = false
	if n > 0 {
		l.earlyTalker(c, nc, buf[:n])
		return false
	}
	if !l.endTeaser(c, nc) {
		return false
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		l.srv.log.Debug("closed during greet_pause", append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...), "err", err)...)
		_ = nc.Close()
		return false
	}
	// go-smtp sets its own deadlines from the greeting on.
	if err := nc.SetDeadline(time.Time{}); err != nil {
		_ = nc.Close()
		return false
	}
	return true
}

// writeBanner writes the first line of the greeting, greet_pause_banner
// after the host name go-smtp greets with, if there is one, and reports
// whether the pause may go on; a client that does not read it is closed.
func (l *listener) writeBanner(c *conn, nc net.Conn) bool {
	if !c.greet.teaser {
		return true
	}
	// Shutdown's 421 may be out already (sayGoodbye): no greeting may
	// follow it. Otherwise sayGoodbye leaves the 421 to endTeaser.
	c.mu.Lock()
	closing := c.closing
	c.teased = !closing
	c.mu.Unlock()
	if closing {
		c.closeAs(metrics.CloseShutdown)
		_ = nc.Close()
		return false
	}
	_ = nc.SetWriteDeadline(time.Now().Add(l.srv.lim().CommandTimeout.Duration))
	if _, err := io.WriteString(nc, "220-"+greetingText(l.srv.cfg.Hostname, c.greet.banner)+"\r\n"); err != nil {
		l.srv.log.Debug("closed during greet_pause", append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...), "err", err)...)
		_ = nc.Close()
		return false
	}
	return true
}

// endTeaser reports whether the session may go on once the pause is
// over; after that, sayGoodbye writes Shutdown's 421 itself. When
// Shutdown came during the pause, the connection is closed, and a banner
// line written is followed by the greeting's last line and the 421: each
// reply keeps one code on all its lines (RFC 5321 §4.2.1), and a server
// that must shut down may send 421 at any time (§3.8).
func (l *listener) endTeaser(c *conn, nc net.Conn) bool {
	c.mu.Lock()
	closing, teased := c.closing, c.teased
	c.teased = false
	c.mu.Unlock()
	if !closing {
		return true
	}
	c.closeAs(metrics.CloseShutdown)
	if teased {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(nc, "220 "+greetingText(l.srv.cfg.Hostname, c.banner)+"\r\n"+c.wire(&reply.ShuttingDown))
	}
	_ = nc.Close()
	return false
}

// earlyTalker refuses a client that sent got before its greeting, logs
// and counts it, and closes the connection. It does not wait for QUIT,
// as RFC 5321 §3.1 has a server do after a 554 greeting: the client's
// next lines are what it sent ahead, no answer to the 554, and Postfix's
// smtpd and postscreen hang up too. The close lingers, so that the reply
// reaches a client whose early lines are still unread.
func (l *listener) earlyTalker(c *conn, nc net.Conn, got []byte) {
	sent, soft := l.srv.softLogged(&earlyTalk)
	r := greetingRefusal(sent)
	l.srv.metrics.EarlyTalker(l.cfg.Name)
	c.closeAs(metrics.CloseEarlyTalker)
	// The handler quotes the input, its control bytes escaped.
	shown := got[:min(len(got), earlyTalkShown)]
	attrs := append(append([]any{"listener", l.cfg.Name}, clientAttrs(&c.info)...),
		"bytes", len(got), "input", string(shown), "reply", r.String())
	l.srv.log.Info("early talker", append(attrs, soft...)...)
	_ = nc.SetWriteDeadline(time.Now().Add(l.srv.lim().CommandTimeout.Duration))
	_, _ = io.WriteString(nc, c.wire(r))
	_ = nc.Close()
}

// greetingText is a greeting line's text: the host name first (RFC 5321
// §4.3.1), then the banner, if any.
func greetingText(host, banner string) string {
	if banner == "" {
		return host
	}
	return host + " " + banner
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
