package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one SMTP connection past EHLO, ready for MAIL.
type session struct {
	client *smtp.Client
	conn   net.Conn // the TCP connection: closing it aborts whatever runs
	host   string   // MX or relay host name, for logs and TLS
	addr   string   // the pool key: the ip:port (or socket) dialled, plus the policy variant
	tls    bool
	lmtp   bool        // an LMTP session (RFC 2033): one reply per recipient after DATA
	used   int         // transactions started on it
	timer  *time.Timer // idle expiry while pooled
	// rcptMax and mailMax are the server's LIMITS RCPTMAX and MAILMAX
	// (RFC 9422, limits.go), 0 when it advertised none.
	rcptMax, mailMax int
}

// close ends the session without a goodbye.
func (s *session) close() { _ = s.client.Close() }

// quit says QUIT (RFC 5321 §4.1.1.10) with a short timeout, then closes.
func (s *session) quit() {
	s.client.CommandTimeout = 5 * time.Second
	_ = s.client.Quit()
	s.close()
}

// hopError is a failure to reach a host or to get through its greeting,
// EHLO or STARTTLS: delivery moves on to the next address (RFC 5321 §5.1).
type hopError struct {
	host, addr string
	err        error
}

func (e *hopError) Error() string { return hostAddr(e.host, e.addr) + ": " + describe(e.err) }
func (e *hopError) Unwrap() error { return e.err }

// tlsFailed marks a failed STARTTLS; the connection is gone.
type tlsFailed struct{ err error }

func (e *tlsFailed) Error() string { return "STARTTLS: " + describe(e.err) }
func (e *tlsFailed) Unwrap() error { return e.err }

// loopError is an MX host that greets with this MTA's own hostname: the
// MX (or implicit MX) is this MTA, and delivering there would hand the
// message back to ourselves, as Postfix detects with "mail for … loops
// back to myself". Only MX hops are checked: a smarthost or content filter
// on the same machine may well share the hostname.
type loopError struct{ name string }

func (e *loopError) Error() string {
	return "the server greets as " + e.name + ", this host's own name"
}

// GreetingConn keeps the first line the server sends, its greeting (RFC
// 5321 §4.2: "220 domain …"), which go-smtp's client reads but does not
// return: wrap the connection before smtp.NewClient.
type GreetingConn struct {
	net.Conn
	line []byte
	done bool
}

func (g *GreetingConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if !g.done {
		chunk := p[:n]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk, g.done = chunk[:i], true
		}
		g.line = append(g.line, chunk...)
		if len(g.line) > 512 {
			g.done = true // no greeting line is that long (RFC 5321 §4.5.3.1.5)
		}
	}
	return n, err
}

// refused reports whether the greeting was a refusal (4xx or 5xx) rather
// than 220.
func (g *GreetingConn) refused() bool {
	return len(g.line) > 0 && (g.line[0] == '4' || g.line[0] == '5')
}

// Name is the domain the greeting gives, "" when it gave none.
func (g *GreetingConn) Name() string {
	line := strings.TrimRight(string(g.line), "\r")
	if len(line) < 4 || !strings.HasPrefix(line, "220") {
		return ""
	}
	f := strings.Fields(line[4:])
	if len(f) == 0 {
		return ""
	}
	return strings.TrimSuffix(f[0], ".")
}

// describe renders err, a server reply as it looked on the wire.
func describe(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyText(se)
	}
	return err.Error()
}

// connect opens a session to addr for hop h. Under the default policy
// encryption is opportunistic (RFC 7435, RFC 3207): when STARTTLS fails the
// host is tried once more in plaintext. A policy requiring TLS never falls
// back. LMTP hops (RFC 2033) are local and run without STARTTLS.
func (a *Agent) connect(ctx context.Context, h hop, addr, key string) (*session, error) {
	s, err := a.dial(ctx, h, addr, true)
	var tf *tlsFailed
	if errors.As(err, &tf) && h.tls.fallback() {
		a.plaintextAfter(h, addr, tf.err, "retrying in plaintext")
		s, err = a.dial(ctx, h, addr, false)
	}
	if err != nil {
		return nil, &hopError{host: h.host, addr: addr, err: err}
	}
	s.addr = key
	s.rcptMax, s.mailMax = serverLimits(s.client)
	return s, nil
}

// plaintextAfter logs a STARTTLS that failed (err) under a policy that
// lets the session go on in plaintext, how is how it goes on, and notes it
// in the attempt's trace.
func (a *Agent) plaintextAfter(h hop, addr string, err error, how string) {
	a.log.Info("delivery: STARTTLS failed, "+how, "host", h.host, "addr", addr, "err", err)
	h.tls.trace.handshakeFailed(h.host)
	switch {
	case h.tls.ignored:
		a.log.Warn("delivery: TLS policy "+tlsRequiredNoLog+": STARTTLS failed; delivering in plaintext",
			"domain", h.tls.domain, "host", h.host, "err", err)
	case h.tls.report:
		a.log.Warn("delivery: MTA-STS testing: STARTTLS failed, enforce mode would defer; delivering in plaintext",
			"domain", h.tls.domain, "host", h.host, "err", err)
	}
}

func (a *Agent) dial(ctx context.Context, h hop, addr string, tryTLS bool) (*session, error) {
	host := h.host
	network := "tcp"
	if h.lmtp == "unix" {
		network = "unix"
	}
	// A source address that is not (or no longer) this host's fails the
	// bind, and the hop's recipients are deferred: mail leaving from
	// another address would fail the receivers' SPF and PTR checks, so
	// Sluice does what Postfix does with smtp_bind_address_enforce = yes.
	d := net.Dialer{Timeout: a.cfg.ConnectTimeout.Duration, LocalAddr: h.source.local(network, addr)}
	if network == "tcp" {
		network = a.tcpNetwork(h) // a name the dialer resolves keeps to address_family
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	greet := &GreetingConn{Conn: conn}
	c := a.newClient(greet, h.lmtp != "")
	if err := c.Hello(a.host); err != nil {
		_ = conn.Close()
		if se := (*smtp.SMTPError)(nil); errors.As(err, &se) && greet.refused() {
			return nil, &greetingRefused{reply: se}
		}
		return nil, err
	}
	if name := greet.Name(); h.mx && name != "" && strings.EqualFold(name, strings.TrimSuffix(a.host, ".")) {
		_ = conn.Close()
		return nil, &loopError{name: name}
	}
	// A TLS report counts the sessions that got as far as STARTTLS;
	// one that ended before is not a TLS negotiation (RFC 8460 §4.3.4:
	// transient failures need not be reported).
	rc := a.rptConn(h, conn)
	if rc != nil {
		rc.helo = greet.Name()
	}
	s := &session{client: c, conn: conn, host: host, addr: addr, lmtp: h.lmtp != ""}
	if s.lmtp {
		return s, nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok || !tryTLS {
		if !ok && tryTLS {
			rc.noSTARTTLS() // the retry in plaintext after a failed handshake is not another
		}
		if !ok && h.tls.required() {
			_ = conn.Close()
			return nil, errNoSTARTTLS
		}
		if err := a.auth(s, h); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return s, nil
	}
	h.tls.rc = rc
	cfg, err := a.clientTLS(host, h.tls)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	tc, err := a.startTLS(ctx, conn, cfg)
	if ctx.Err() == nil {
		rc.handshake(err) // not a stop's cancellation
	}
	if te := (*textproto.Error)(nil); errors.As(err, &te) && te.Code != 421 && h.tls.fallback() && ctx.Err() == nil {
		// STARTTLS refused with a reply (454 "TLS not available"): the
		// session is as it was before the command (RFC 3207 §4), and
		// goes on in plaintext on this connection, as Postfix's does,
		// rather than closed without QUIT and dialled again. A 421
		// closes it (RFC 5321 §3.8): a new connection, as after a
		// failed handshake.
		_ = conn.SetDeadline(time.Time{}) // startTLS's, for the reply
		a.plaintextAfter(h, addr, err, "going on in plaintext")
		if err := a.auth(s, h); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return s, nil
	}
	if err != nil {
		_ = conn.Close()
		return nil, &tlsFailed{err}
	}
	// RFC 3207 §4.2: after the handshake the session starts over without a
	// greeting; go-smtp's client reads one, so replay it.
	greeting := io.MultiReader(strings.NewReader("220 "+host+" TLS session started\r\n"), tc)
	c = a.newClient(&resumedConn{Conn: tc, r: greeting}, false)
	if err := c.Hello(a.host); err != nil {
		_ = tc.Close()
		if _, ok := isReply(err); !ok && h.tls.fallback() && ctx.Err() == nil {
			// The TLS session failed past the handshake: under TLS 1.3
			// a server's refusal of the client's side (a client
			// certificate it wants, its Finished) comes as an alert on
			// the first read, after the client's handshake returned.
			// Opportunistic TLS tries the host again in plaintext, as
			// after a failed handshake; Postfix does so after a TLS
			// session's lost connection or timeout (smtp_stream_except,
			// RETRY_AS_PLAINTEXT). A reply (a 421) is the server's
			// answer, not TLS failing.
			return nil, &tlsFailed{err}
		}
		return nil, err
	}
	s.client, s.tls = c, true
	if ok, _ := c.Extension("REQUIRETLS"); h.tls.requireTLS && !ok {
		// RFC 8689 §4.2.1 step 5; QUIT, as the RFC asks.
		s.quit()
		return nil, errNoREQUIRETLS
	}
	if err := a.auth(s, h); err != nil {
		_ = tc.Close()
		return nil, err
	}
	return s, nil
}

// auth runs AUTH PLAIN (RFC 4954, RFC 4616) with the hop's credentials
// file, a "user:password" line, when it has one. A route with credentials
// requires TLS, so they never cross in the clear.
func (a *Agent) auth(s *session, h hop) error {
	if h.authFile == "" {
		return nil
	}
	if !s.tls {
		return errors.New("AUTH: refusing to send credentials without TLS")
	}
	b, err := os.ReadFile(h.authFile)
	if err != nil {
		return fmt.Errorf("AUTH: %v", err)
	}
	user, pass, ok := strings.Cut(strings.TrimRight(string(b), "\r\n"), ":")
	if !ok || user == "" {
		return fmt.Errorf("AUTH: %s: want one line user:password", h.authFile)
	}
	if ok, _ := s.client.Extension("AUTH"); !ok {
		return errors.New("AUTH: not offered by the server")
	}
	if err := s.client.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	return nil
}

func (a *Agent) newClient(conn net.Conn, lmtp bool) *smtp.Client {
	c := smtp.NewClient(conn)
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	}
	c.CommandTimeout = a.cfg.CommandTimeout.Duration
	// RFC 5321 §4.5.3.2: 5 minutes per command, 10 for the final dot.
	c.SubmissionTimeout = 2 * a.cfg.CommandTimeout.Duration
	return c
}

// startTLS sends STARTTLS on conn, where EHLO advertised it, and runs the
// client handshake. go-smtp's client has no method for this that keeps our
// EHLO name, so the command is written here.
func (a *Agent) startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	_ = conn.SetDeadline(time.Now().Add(a.cfg.CommandTimeout.Duration))
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	// One byte at a time, so that nothing past the reply is consumed, and
	// no more than a reply's bound (go-smtp's client ends any other reply
	// at 64 KiB): textproto keeps every line, and a server answering with
	// "220-" lines without end grew the attempt's memory, a byte a read,
	// until the command timeout.
	lr := &io.LimitedReader{R: conn, N: maxSTARTTLSReply}
	tr := textproto.NewReader(bufio.NewReader(oneByteReader{lr}))
	if _, _, err := tr.ReadResponse(220); err != nil {
		if lr.N == 0 {
			err = errSTARTTLSReplyTooLong
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(ctx, a.cfg.CommandTimeout.Duration)
	defer cancel()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// tlsConfig is the configured client config, or one for opportunistic
// encryption that accepts any certificate, naming host for SNI.
func (a *Agent) tlsConfig(host string) *tls.Config {
	var cfg *tls.Config
	if a.tls != nil {
		cfg = a.tls.Clone()
	} else {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// resumedConn reads r (a replayed greeting, then the connection) instead
// of the bare connection.
type resumedConn struct {
	net.Conn
	r io.Reader
}

func (c *resumedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// maxSTARTTLSReply bounds the reply to STARTTLS, read by startTLS.
const maxSTARTTLSReply = 64 << 10

var errSTARTTLSReplyTooLong = errors.New("reply to STARTTLS longer than 64 KiB")

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
