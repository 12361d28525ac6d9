package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// closedWith waits (bounded) for sluice_smtp_connections_closed_total to
// hold exactly want, by "listener reason": the server counts a close on
// its own goroutine, which a hang-up reaches after the client is gone.
func closedWith(t *testing.T, m *metrics.Metrics, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := counts(t, m, "sluice_smtp_connections_closed_total", "listener", "reason")
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections closed %v, want %v", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// Each way a session ends is counted under its reason in
// sluice_smtp_connections_closed_total, once a connection: the
// client's QUIT and hang-up (in the clear, and under TLS, where the
// close_notify alert ends the stream), the command and data timeouts'
// 421, a stage's 421 or 521 (at RCPT, at connect in place of the
// greeting), max_errors, Shutdown's 421, max_messages_per_connection,
// max_connections, greet_pause, forbid_unauth_pipelining, a bare LF
// refused with 521 (bare_newline_reject_code), go-smtp's own close after a
// command line over max_line_length, a non-SMTP command (an HTTP
// request), a failed STARTTLS handshake, and a hang-up in the error
// tarpit. No label holds what the client sent.
func TestConnectionsClosedByReason(t *testing.T) {
	stageAt := func(hook string, r reply.Reply) func(*Options) {
		return func(o *Options) { o.Policy = &hookPolicy{hook: hook, r: &r} }
	}
	tlsOpt, clientTLS := withSTARTTLS(t)
	for _, tc := range []struct {
		name   string
		opts   []func(*Options)
		client func(t *testing.T, h *harness)
		want   map[string]float64
	}{
		{"quit", nil, func(t *testing.T, h *harness) {
			c, err := smtp.Dial(h.addr("mx"))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{"mx client_quit": 1}},

		{"hangup", nil, func(t *testing.T, h *harness) {
			d := h.dial()
			d.ehlo()
			d.envelope("b@example.org")
			_ = d.c.Close()
		}, map[string]float64{"mx client_hangup": 1}},

		{"hangup under TLS", []func(*Options){tlsOpt}, func(t *testing.T, h *harness) {
			d := h.dialTLS("mx", clientTLS)
			d.ehlo()
			_ = d.c.Close() // close_notify, then FIN
		}, map[string]float64{"mx client_hangup": 1}},

		{"command timeout", []func(*Options){withLimits(func(l *config.Limits) { l.CommandTimeout.Duration = 200 * time.Millisecond })},
			func(t *testing.T, h *harness) {
				d := h.dial()
				d.expect("421 4.4.2 Idle timeout, bye bye")
				d.expectClosed()
			}, map[string]float64{"mx timeout": 1}},

		{"data timeout", []func(*Options){withLimits(func(l *config.Limits) { l.DataTimeout.Duration = 200 * time.Millisecond })},
			func(t *testing.T, h *harness) {
				d := h.dial()
				d.ehlo()
				d.envelope("b@example.org")
				d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
				d.send("Subject: slow")
				d.expect("421 4.4.2 Timeout waiting for data, closing connection")
				d.expectClosed()
			}, map[string]float64{"mx timeout": 1}},

		{"stage 421 at rcpt", []func(*Options){stageAt("rcpt", reply.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Text: "go away"})},
			func(t *testing.T, h *harness) {
				d := h.dial()
				d.ehlo()
				d.envelope()
				d.cmd("RCPT TO:<b@example.org>", "421 4.7.0 go away")
				d.expectClosed()
			}, map[string]float64{"mx stage": 1}},

		{"stage 521 at connect", []func(*Options){stageAt("connect", reply.Reply{Code: 521, Enhanced: [3]int{5, 7, 1}, Text: "nope"})},
			func(t *testing.T, h *harness) {
				d := dialConn(t, h.addr("mx"))
				d.expect("521 5.7.1 nope")
				d.expectClosed()
			}, map[string]float64{"mx stage": 1}},

		{"stage 554 at connect, then QUIT", []func(*Options){stageAt("connect", reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "not you"})},
			func(t *testing.T, h *harness) {
				d := dialConn(t, h.addr("mx"))
				d.expect("554 5.7.1 not you")
				d.cmd("QUIT", "221 2.0.0 Bye")
				d.expectClosed()
			}, map[string]float64{"mx stage": 1}},

		{"too many errors", []func(*Options){withLimits(func(l *config.Limits) { l.MaxErrors = 1 })},
			func(t *testing.T, h *harness) {
				d := h.dial()
				d.ehlo()
				d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
				d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
				d.cmd("RCPT TO:<y@elsewhere.example>", "421 4.7.0 Too many errors, closing connection")
				d.expectClosed()
			}, map[string]float64{"mx too_many_errors": 1}},

		{"too many messages", []func(*Options){withLimits(func(l *config.Limits) { l.MaxMessagesPerConnection = 0 })},
			func(t *testing.T, h *harness) {
				d := h.dial()
				d.ehlo()
				d.cmd("MAIL FROM:<a@example.org>", "421 4.7.0 Too many messages in one session, reconnect to send more")
				d.expectClosed()
			}, map[string]float64{"mx too_many_messages": 1}},

		{"connection limit", []func(*Options){withLimits(func(l *config.Limits) { l.MaxConnections = 1 })},
			func(t *testing.T, h *harness) {
				first := h.dial()
				second := dialConn(t, h.addr("mx"))
				second.expect("421 4.4.5 Too many connections, try again later")
				second.expectClosed()
				first.cmd("QUIT", "221 2.0.0 Bye")
				first.expectClosed()
			}, map[string]float64{"mx connection_limit": 1, "mx client_quit": 1}},

		{"pipelining", []func(*Options){withPipelining(true)}, func(t *testing.T, h *harness) {
			d := h.dial()
			d.raw("HELO bot.example\r\nMAIL FROM:<a@example.org>\r\n")
			d.expect(outOfSync)
			d.expectClosed()
		}, map[string]float64{"mx pipelining": 1}},

		{"bare LF refused with 521", []func(*Options){withBareNewlineRule(521, nil)}, func(t *testing.T, h *harness) {
			d := h.dial()
			d.ehlo()
			d.envelope("b@example.org")
			d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			d.raw("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
			d.expect("521 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
			d.expectClosed()
		}, map[string]float64{"mx bare_newline": 1}},

		{"line too long", nil, func(t *testing.T, h *harness) {
			d := h.dial()
			d.send("NOOP " + strings.Repeat("x", 1200))
			d.expect("500 5.5.2 Too long line, closing connection")
			d.expectClosed()
		}, map[string]float64{"mx protocol": 1}},

		// RFC 4954 §6: go-smtp closes after an AUTH response too long.
		{"AUTH response too long", []func(*Options){tlsOpt, withUsers(t, users)}, func(t *testing.T, h *harness) {
			d := h.dialTLS("mx", clientTLS)
			d.ehlo()
			d.cmd("AUTH PLAIN", "334 ")
			d.send(strings.Repeat("QUFB", 1200))
			d.expect("500 5.5.6 Authentication Exchange line is too long, closing connection")
			d.expectClosed()
		}, map[string]float64{"mx protocol": 1}},

		{"non-SMTP command", nil, func(t *testing.T, h *harness) {
			d := h.dial()
			d.cmd("GET / HTTP/1.1", "221 2.7.0 Error: I can break rules, too. Goodbye.")
			d.expectClosed()
		}, map[string]float64{"mx protocol": 1}},

		{"STARTTLS handshake failure", []func(*Options){tlsOpt}, func(t *testing.T, h *harness) {
			d := h.dial()
			d.ehlo()
			d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
			d.raw("this is no ClientHello\r\n")
			d.expectClosed()
		}, map[string]float64{"mx tls": 1}},

		{"early talker", []func(*Options){withGreetPause(longPause)}, func(t *testing.T, h *harness) {
			d := dialConn(t, h.addr("mx"))
			d.raw("EHLO bot.example\r\n")
			d.expect(banner, refusedEarly)
			d.expectClosed()
		}, map[string]float64{"mx early_talker": 1}},

		// The pause's read runs out, as it should: no timeout of the
		// session's.
		{"greet_pause waited out, then QUIT", []func(*Options){withGreetPause(50 * time.Millisecond)}, func(t *testing.T, h *harness) {
			d := dialConn(t, h.addr("mx"))
			d.expect(banner, greeting)
			d.cmd("QUIT", "221 2.0.0 Bye")
			d.expectClosed()
		}, map[string]float64{"mx client_quit": 1}},

		{"shutdown", nil, func(t *testing.T, h *harness) {
			d := h.dial()
			d.ehlo()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			d.expect("421 4.3.2 Service shutting down, try again later")
			d.expectClosed()
		}, map[string]float64{"mx shutdown": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(metrics.Providers{})
			h := start(t, append([]func(*Options){func(o *Options) { o.Metrics = m }}, tc.opts...)...)
			tc.client(t, h)
			closedWith(t, m, tc.want)
		})
	}
}

// A client that hangs up while the error tarpit holds its reply is
// counted as one gone, not as the limit or the refusal it was waiting
// for.
func TestConnectionsClosedTarpitHangup(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	w := newTarpitWaits(true)
	h := start(t, withTarpit(w), func(o *Options) { o.Metrics = m })
	d := provokeWait(t, h, w)
	_ = d.c.Close()
	waitEnded(t, w, "the client's hang-up")
	closedWith(t, m, map[string]float64{"mx client_hangup": 1})
}

// go-smtp closes the connection after the replies goSMTPClosing names
// and tells no one else: were its text to change, those closes would be
// counted as hang-ups. A BDAT without a valid size is one of them.
func TestConnectionsClosedProtocol(t *testing.T) {
	for _, tc := range []struct{ send, want string }{
		{"BDAT", "501 5.5.4 Missing chunk size argument, closing connection"},
		{"BDAT x LAST", "501 5.5.4 Malformed size argument, closing connection"},
		{"BDAT 99999999999 LAST", "552 5.3.4 Max message size exceeded, closing connection"},
	} {
		t.Run(tc.send, func(t *testing.T) {
			m := metrics.New(metrics.Providers{})
			h := start(t, func(o *Options) { o.Metrics = m })
			d := h.dial()
			d.ehlo()
			d.envelope("b@example.org")
			d.cmd(tc.send, tc.want)
			d.expectClosed()
			closedWith(t, m, map[string]float64{"mx protocol": 1})
		})
	}
	for text := range goSMTPClosing {
		if !strings.HasSuffix(text, ", closing connection") {
			t.Errorf("goSMTPClosing holds %q", text)
		}
	}
}

// A failed handshake on an implicit-TLS listener (submissions) is
// counted as tls; one the client leaves in the middle is its hang-up.
func TestConnectionsClosedImplicitTLS(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	sub, _ := withSubmission(t, config.KindSubmissions)
	h := start(t, sub, func(o *Options) { o.Metrics = m })
	d := dialConn(t, h.addr("sub"))
	d.raw("EHLO client.test\r\n")
	d.expectClosed()
	closedWith(t, m, map[string]float64{"sub tls": 1})

	// A ClientHello cut short, then the client gone.
	d = dialConn(t, h.addr("sub"))
	tc := tls.Client(d.c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the handshake is cut short
	go func() { _ = tc.Handshake() }()
	_ = d.c.Close()
	closedWith(t, m, map[string]float64{"sub tls": 1, "sub client_hangup": 1})
}

// A failed STARTTLS handshake is counted on its own connection, whatever
// other connection its client has open: two at once from 127.0.0.1 to
// the same listener, and a pair from one address and port to two
// listeners, as a proxy's connections can be (Linux gives a connect the
// same ephemeral port towards another destination). go-smtp named the
// failure only in a log line, by peer address.
func TestConnectionsClosedTLSFailureAmongPeers(t *testing.T) {
	tlsOpt, _ := withSTARTTLS(t)
	second := func(o *Options) {
		l := o.Config.Listeners[0]
		l.Name = "mx2"
		o.Config.Listeners = append(o.Config.Listeners, l)
	}
	m := metrics.New(metrics.Providers{})
	h := start(t, tlsOpt, second, func(o *Options) { o.Metrics = m })

	// fail runs a STARTTLS that fails on a, while b, open beside it
	// from the same address, ends with QUIT.
	fail := func(a, b *dialog) {
		t.Helper()
		a.expect("220 mx.test ESMTP")
		b.expect("220 mx.test ESMTP")
		a.ehlo()
		b.ehlo()
		a.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
		a.raw("this is no ClientHello\r\n")
		a.expectClosed()
		b.cmd("QUIT", "221 2.0.0 Bye")
		b.expectClosed()
	}

	fail(dialConn(t, h.addr("mx")), dialConn(t, h.addr("mx")))
	closedWith(t, m, map[string]float64{"mx tls": 1, "mx client_quit": 1})

	// One source address and port towards both listeners: SO_REUSEADDR
	// (and SO_REUSEPORT, which BSD wants) lets two sockets bind it.
	reuse := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		return errors.Join(err, serr)
	}
	const rounds = 8 // the log line's match picked one of the pair at random
	for range rounds {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Control: reuse}
		ca, err := d.Dial("tcp", h.addr("mx"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ca.Close() })
		d.LocalAddr = ca.LocalAddr()
		cb, err := d.Dial("tcp", h.addr("mx2"))
		if err != nil {
			t.Skipf("no second connection from %v: %v", ca.LocalAddr(), err)
		}
		t.Cleanup(func() { _ = cb.Close() })
		fail(newDialog(t, ca), newDialog(t, cb))
	}
	closedWith(t, m, map[string]float64{"mx tls": 1 + rounds, "mx client_quit": 1, "mx2 client_quit": rounds})
}

// A connection from a trusted proxy is counted once, under what ended it:
// a refused PROXY header (malformed, or late) as proxy, a health check's
// empty connection as a hang-up, and a client the header named as any
// other, its per-IP limit included.
func TestConnectionsClosedProxy(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withProxy(200*time.Millisecond, "127.0.0.1/32"),
		withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 1 }), func(o *Options) { o.Metrics = m })
	for _, send := range []string{"EHLO client.test\r\n", "PROXY TCP4 198.51.100.7 "} {
		d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
		d.raw(send)
		d.expectClosed()
	}
	_ = dialFrom(t, "127.0.0.1", h.addr("mx")).Close() // a health check
	closedWith(t, m, map[string]float64{"mx proxy": 2, "mx client_hangup": 1})

	hdr := []byte("PROXY TCP4 198.51.100.1 192.0.2.25 40000 25\r\n")
	first := h.proxied(hdr)
	over := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
	over.raw(string(hdr))
	over.expect("421 4.7.0 Too many connections from your address, try again later")
	over.expectClosed()
	first.cmd("QUIT", "221 2.0.0 Bye")
	first.expectClosed()
	closedWith(t, m, map[string]float64{"mx proxy": 2, "mx client_hangup": 1, "mx connection_limit": 1, "mx client_quit": 1})
}

// A panic in the session's code (here an auth hook's), which go-smtp
// recovers and answers 421 4.0.0 before it closes, is counted as
// internal_error: the server cut the client off, and not for anything
// it did. Counted as a hang-up before, and fails so if go-smtp's text
// changes.
func TestConnectionsClosedPanic(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), func(o *Options) { o.Policy = panickyAuthPolicy{}; o.Metrics = m })
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("boom", "x", "421 4.0.0 "+goSMTPPanic)
	d.expectClosed()
	closedWith(t, m, map[string]float64{"sub internal_error": 1})
}
