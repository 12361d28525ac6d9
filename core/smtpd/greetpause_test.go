package smtpd

import (
	"context"
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

const (
	// refusedEarly is the reply to an early talker.
	refusedEarly = "554 5.5.0 Error: SMTP protocol synchronization"
	// greeting is the greeting of the test config.
	greeting = "220 mx.test ESMTP"
	// banner is the first line greet_pause writes, greet_pause_banner's
	// default after the host name.
	banner = "220-mx.test ESMTP"
	// longPause is a greet_pause no test waits out: a client that gets
	// the greeting within a few seconds was spared it.
	longPause = time.Hour
)

// withGreetPause sets the "mx" listener's greet_pause to wait and its
// greet_pause_skip to skip (none: loopback is paused too);
// greet_pause_banner is left to its default, on.
func withGreetPause(wait time.Duration, skip ...string) func(*Options) {
	return func(o *Options) {
		lc := &o.Config.Listeners[0]
		lc.GreetPause.Duration = wait
		lc.GreetPauseSkip = nil
		for _, n := range skip {
			lc.GreetPauseSkip = append(lc.GreetPauseSkip, config.Prefix{Prefix: netip.MustParsePrefix(n)})
		}
	}
}

// withGreetBanner sets the "mx" listener's greet_pause_banner to v.
func withGreetBanner(v any) func(*Options) {
	return func(o *Options) { o.Config.Listeners[0].GreetPauseBanner = v }
}

// within reads one line, which must come before wait is out.
func (d *dialog) within(wait time.Duration) string {
	d.t.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(wait))
	l, err := d.r.ReadString('\n')
	if err != nil {
		d.t.Fatalf("no line within %v: %v (got %q)", wait, err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// A client that talks before the greeting gets Postfix's 554 5.5.0 in
// its place and the connection closes; one INFO line names the client,
// how many bytes it sent and the first 100 of them, and the counter
// counts it. The listener is not held up: the next client is served.
func TestGreetPauseRefusesEarlyTalker(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withGreetPause(longPause), func(o *Options) { o.Metrics = m })
	long := "MAIL FROM:<" + strings.Repeat("x", 120) + "@example.org>\r\n"
	for _, tc := range []struct{ send, log string }{
		{"EHLO bot.example\r\nMAIL FROM:<a@example.org>\r\n",
			`level=INFO msg="early talker" listener=mx client=127.0.0.1 bytes=45 input="EHLO bot.example\r\nMAIL FROM:<a@example.org>\r\n" reply="` + refusedEarly + `"`},
		{long, `bytes=146 input="` + long[:100] + `" reply=`},
	} {
		d := dialConn(t, h.addr("mx"))
		d.raw(tc.send)
		d.expect(banner, refusedEarly)
		d.expectClosed()
		waitLog(t, h, tc.log)
	}
	if got := counts(t, m, "sluice_smtp_early_talkers_total", "listener"); got["mx"] != 2 {
		t.Errorf("early talkers counted %v, want mx 2", got)
	}
	waitFor(t, func() bool { return h.conns() == 0 })
}

// Under soft_bounce the refusal is a 421 (a greeting's temporary
// refusal, RFC 5321 §3.8), and the log says what it would have been.
func TestGreetPauseSoftBounce(t *testing.T) {
	h := start(t, withGreetPause(longPause), func(o *Options) { o.Config.SoftBounce = true })
	d := dialConn(t, h.addr("mx"))
	d.send("EHLO bot.example")
	d.expect(banner, "421 4.5.0 Error: SMTP protocol synchronization")
	d.expectClosed()
	waitLog(t, h, `reply="421 4.5.0 Error: SMTP protocol synchronization" soft_bounce="turned 554 5.5.0"`)
}

// With greet_pause_banner false or "" nothing is written during the
// pause (Sendmail's greet_pause, Haraka's early_talker): a client that
// talks in the middle of it is as early, and one that waits gets the
// greeting in one line.
func TestGreetPauseSilentThenRefused(t *testing.T) {
	for _, off := range []any{false, ""} {
		h := start(t, withGreetPause(longPause), withGreetBanner(off))
		d := dialConn(t, h.addr("mx"))
		d.expectSilence(100 * time.Millisecond)
		d.send("QUIT")
		d.expect(refusedEarly)
		d.expectClosed()

		polite := start(t, withGreetPause(time.Millisecond), withGreetBanner(off))
		polite.dial().cmd("QUIT", "221 2.0.0 Bye")
	}
}

// A client that waits gets the first line at once and the last once the
// pause is over, and its session goes on as usual. A text given is
// written after the host name.
func TestGreetPausePoliteClientGreeted(t *testing.T) {
	for _, tc := range []struct {
		banner any
		first  string
	}{{nil, banner}, {true, banner}, {"Hold on", "220-mx.test Hold on"}} {
		h := start(t, withGreetPause(100*time.Millisecond), withGreetBanner(tc.banner))
		d := dialConn(t, h.addr("mx"))
		d.expect(tc.first, greeting)
		d.ehlo()
		d.cmd("QUIT", "221 2.0.0 Bye")
		if logs := h.logs.String(); strings.Contains(logs, "early talker") {
			t.Errorf("a polite client was taken for an early talker:\n%s", logs)
		}
	}
}

// The banner line comes before the pause, not after it: a client that
// reads it and answers (a bot that reads one line and starts) is as
// early as one that reads nothing, refused and counted.
func TestGreetPauseBannerCatchesFirstLineAnswer(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withGreetPause(longPause), func(o *Options) { o.Metrics = m })
	d := dialConn(t, h.addr("mx"))
	if got := d.within(5 * time.Second); got != banner {
		t.Fatalf("first line %q, want %q", got, banner)
	}
	d.send("EHLO bot.example")
	d.expect(refusedEarly)
	d.expectClosed()
	waitLog(t, h, `msg="early talker" listener=mx client=127.0.0.1 bytes=18 input="EHLO bot.example\r\n"`)
	if got := counts(t, m, "sluice_smtp_early_talkers_total", "listener"); got["mx"] != 1 {
		t.Errorf("early talkers counted %v, want mx 1", got)
	}
}

// An SMTP client reads the multi-line greeting to its last line (RFC 5321
// §4.2.1) before it speaks, and so gets through: go-smtp's client here.
func TestGreetPauseBannerSMTPClient(t *testing.T) {
	h := start(t, withGreetPause(100*time.Millisecond))
	c, err := smtp.Dial(h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	if logs := h.logs.String(); strings.Contains(logs, "early talker") {
		t.Errorf("go-smtp's client was taken for an early talker:\n%s", logs)
	}
}

// A connect hook's refusal takes the greeting's place whole: the banner
// line is written after the connect checks, so no 554 follows a 220-.
func TestGreetPauseBannerAfterConnectRefusal(t *testing.T) {
	h := start(t, withGreetPause(longPause), func(o *Options) { o.Policy = &testPolicy{connect: &blocked} })
	d := dialConn(t, h.addr("mx"))
	d.expect("554 5.7.1 Blocked")
	d.cmd("QUIT", "221 2.0.0 Bye")
}

// relay_networks and greet_pause_skip clients are greeted at once, while
// another client waits out its pause (which holds no accept loop); a
// client outside both is paused.
func TestGreetPauseSpares(t *testing.T) {
	h := start(t, withGreetPause(longPause, "127.0.0.2/32"), func(o *Options) {
		o.Config.RelayNetworks = append(o.Config.RelayNetworks, config.Prefix{Prefix: netip.MustParsePrefix("127.0.0.3/32")})
	})
	paused := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		d := newDialog(t, dialFrom(t, from, h.addr("mx")))
		if got := d.within(5 * time.Second); got != greeting {
			t.Fatalf("client %s got %q, want the greeting", from, got)
		}
		d.cmd("QUIT", "221 2.0.0 Bye")
	}
	paused.send("EHLO client.test")
	paused.expect(banner, refusedEarly)
}

// The connect checks run within the pause; when they outlast it (a slow
// look-up of the client's name or of a DNS list), what the client sent
// meanwhile came before any greeting all the same, and is early talk.
func TestGreetPauseOutlastedByConnectChecks(t *testing.T) {
	sent := make(chan struct{})
	h := start(t, withGreetPause(time.Nanosecond), func(o *Options) {
		o.ClientName = func(ctx context.Context, _ netip.Addr) string {
			select {
			case <-sent:
			case <-ctx.Done():
			}
			return ""
		}
	})
	d := dialConn(t, h.addr("mx"))
	d.send("EHLO bot.example")
	close(sent)
	d.expect(banner, refusedEarly)
	d.expectClosed()
}

// An xclient_hosts peer (nginx's mail proxy) is greeted at once: the
// client it names has talked to it, not here, and a pause would only
// hold each session it relays, and its slot, that long.
func TestGreetPauseSparesXClientHosts(t *testing.T) {
	h := start(t, withGreetPause(longPause), withXClient("127.0.0.2/32"))
	d := newDialog(t, dialFrom(t, "127.0.0.2", h.addr("mx")))
	if got := d.within(5 * time.Second); got != greeting {
		t.Fatalf("the XCLIENT peer got %q, want the greeting", got)
	}
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.7", greeting)
	paused := newDialog(t, dialFrom(t, "127.0.0.3", h.addr("mx")))
	paused.send("EHLO bot.example")
	paused.expect(banner, refusedEarly)
}

// A paused connection counts against max_connections as a session does.
func TestGreetPauseCountsAgainstMaxConnections(t *testing.T) {
	h := start(t, withGreetPause(longPause), withLimits(func(l *config.Limits) { l.MaxConnections = 1 }))
	dialConn(t, h.addr("mx"))
	d := dialConn(t, h.addr("mx"))
	d.expect("421 4.4.5 Too many connections, try again later")
}

// Behind a proxy the client the PROXY header names is judged, after the
// header, which is no early talk: a listed client is greeted at once, a
// proxy's own connection (a health check) too, and a client talking
// right behind the header is refused under its own address.
func TestGreetPauseProxiedClient(t *testing.T) {
	h := start(t, withProxy(0, "127.0.0.1/32"), withGreetPause(longPause, "203.0.113.0/24"))
	for _, header := range [][]byte{
		[]byte("PROXY TCP4 192.0.2.7 192.0.2.25 40000 25\r\n"),   // relay_networks
		[]byte("PROXY TCP4 203.0.113.5 192.0.2.25 40000 25\r\n"), // greet_pause_skip
		proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil),
	} {
		d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
		d.raw(string(header))
		if got := d.within(5 * time.Second); got != greeting {
			t.Fatalf("after %q got %q, want the greeting", header, got)
		}
	}
	d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
	d.raw("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\nEHLO bot.example\r\n")
	d.expect(banner, refusedEarly)
	d.expectClosed()
	waitLog(t, h, `msg="early talker" listener=mx client=198.51.100.7 proxy=127.0.0.1 bytes=18`)

	// The header comes before anything: the banner line only after it.
	polite := start(t, withProxy(0, "127.0.0.1/32"), withGreetPause(100*time.Millisecond))
	d = newDialog(t, dialFrom(t, "127.0.0.1", polite.addr("mx")))
	d.expectSilence(100 * time.Millisecond)
	d.raw("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\n")
	d.expect(banner, greeting)
}

// On an implicit-TLS listener the pause starts after the handshake (the
// ClientHello is the client's first word), and its banner line is
// written inside TLS: a client talking right after the handshake is
// refused, under TLS; one that waits is greeted.
func TestGreetPauseImplicitTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	smtps := func(wait time.Duration) func(*Options) {
		return func(o *Options) {
			o.Config.Listeners = append(o.Config.Listeners, config.Listener{
				Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
				GreetPause: config.Duration{Duration: wait},
			})
		}
	}
	h := start(t, smtps(longPause))
	tc, err := tls.Dial("tcp", h.addr("smtps"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d := newDialog(t, tc)
	d.send("EHLO bot.example")
	d.expect(banner, refusedEarly)
	d.expectClosed()
	waitLog(t, h, `msg="early talker" listener=smtps client=127.0.0.1 bytes=18`)

	tc, err = tls.Dial("tcp", start(t, smtps(100*time.Millisecond)).addr("smtps"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d = newDialog(t, tc)
	d.expect(banner, greeting)
	d.cmd("QUIT", "221 2.0.0 Bye")

	// A plaintext client fails the handshake, made before the pause: closed
	// with nothing written, logged at info as go-smtp's failures are.
	plain := dialConn(t, h.addr("smtps"))
	plain.send("EHLO client.test")
	plain.expectClosed()
	waitLog(t, h, `level=INFO msg="TLS handshake failed" listener=smtps client=127.0.0.1`)
}

// greet_pause and greet_pause_banner change at a reload without a new
// socket, for the connections accepted after it.
func TestGreetPauseReload(t *testing.T) {
	h := start(t)
	h.dial().cmd("QUIT", "221 2.0.0 Bye")
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].GreetPause.Duration, lcs[0].GreetPauseSkip = longPause, nil
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v", ch, err)
	}
	d := dialConn(t, h.addr("mx"))
	d.send("EHLO bot.example")
	d.expect(banner, refusedEarly)

	lcs[0].GreetPauseBanner = false
	ch, err = h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v", ch, err)
	}
	d = dialConn(t, h.addr("mx"))
	d.send("EHLO bot.example")
	d.expect(refusedEarly)
}
