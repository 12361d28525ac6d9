package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
)

// EnvCAFile hands [delivery] ca_file (its absolute path) to plugin
// processes: a probe under tls=verify without ca= then trusts what
// delivery trusts, the system roots plus that file.
const EnvCAFile = "SLUICE_DELIVERY_CA_FILE"

// ProbeError is a recipient refused by a probe, with the server's reply.
type ProbeError struct {
	Code     int
	Enhanced [3]int
	Text     string
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Text)
}

// Permanent reports whether the refusal is a 5xx.
func (e *ProbeError) Permanent() bool { return e.Code >= 500 }

// errProbeDANE: a probe does not look up TLSA records, and without them
// it cannot tell which server DANE would let delivery talk to.
var errProbeDANE = errors.New("a probe cannot authenticate the server by DANE (tls=dane, dane-only); use tls=verify or no probe")

// Probe asks the server behind route (lmtp or smtp) whether it would take
// rcpt, without sending a message: greeting, LHLO/EHLO, MAIL FROM:<>,
// RCPT TO, then RSET and QUIT (ProbeWith from the null sender). It
// returns nil when the server accepts rcpt, a *ProbeError when it refuses
// it, and another error when the question could not be asked. The route
// plugin uses it to refuse unknown local users at RCPT time rather than
// bounce later (no backscatter), the verify plugin (ProbeWith) to check
// the recipients of a gateway's mailbox server.
//
// An smtp: route's connection is made as delivery makes it (Agent.connect),
// TLS policy included, so that the address goes nowhere delivery would
// not send the mail: STARTTLS when offered, plaintext only where a failed
// handshake would fall back to it; under tls=required or verify (and
// authfile, which implies required) a server without STARTTLS or with a
// certificate that fails the check is not asked. DANE routes are refused
// (errProbeDANE). The probe does not AUTH.
func Probe(ctx context.Context, route, helo, rcpt string, timeout time.Duration) error {
	return ProbeWith(ctx, route, rcpt, ProbeOptions{Helo: helo, Timeout: timeout})
}

// ProbeOptions are a probe's settings beside its route and recipient.
type ProbeOptions struct {
	Helo string // the LHLO/EHLO name; "" is "localhost"
	// From is the probe's MAIL FROM, "" the null sender: the verify
	// plugin's sender, Postfix's address_verify_sender.
	From string
	// Timeout bounds the whole probe, and each connection and command
	// within it.
	Timeout time.Duration
}

// ProbeWith is Probe with the options o. A MAIL FROM the server refuses
// is an error naming the command, never a *ProbeError: it says nothing
// of the recipient.
func ProbeWith(ctx context.Context, route, rcpt string, o ProbeOptions) error {
	helo, timeout := o.Helo, o.Timeout
	rt, err := ParseRoute(route)
	if err != nil {
		return err
	}
	var h hop
	switch {
	case rt.Kind == RouteLMTP && rt.Network == "unix":
		h = hop{host: rt.Addr, lmtp: "unix"}
	case rt.Kind == RouteLMTP:
		h = *hostPort(rt.Addr, lmtpPort)
		h.lmtp = "tcp"
	case rt.Kind == RouteSMTP && rt.TLS.wantsDANE():
		return errProbeDANE
	case rt.Kind == RouteSMTP:
		h = *hostPort(rt.Addr, 25)
		h.tls = tlsPolicy{mode: rt.TLS, caFile: rt.CAFile}
	default:
		return fmt.Errorf("route %q: only lmtp and smtp routes can be probed", route)
	}
	if helo == "" {
		helo = "localhost"
	}
	a, err := probeAgent(helo, timeout, h.tls)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := a.connect(ctx, h, rt.Addr, rt.Addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	defer stop()
	defer s.close()
	c := s.client
	from, rcpt, mopts, refused := probeEnvelope(c, o.From, rcpt)
	if refused != nil {
		_ = c.Quit()
		return refused
	}
	if err := c.Mail(from, mopts); err != nil {
		return fmt.Errorf("MAIL FROM:<%s>: %w", from, err)
	}
	err = c.Rcpt(rcpt, nil)
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code != 421 {
		_ = c.Reset()
		_ = c.Quit()
		return &ProbeError{Code: se.Code, Enhanced: [3]int(se.EnhancedCode), Text: se.Message}
	}
	if err != nil {
		return err
	}
	_ = c.Reset()
	_ = c.Quit()
	return nil
}

// probeEnvelope is the probe's MAIL FROM, its RCPT TO and MAIL's options
// as delivery sends them (transaction.go): an address in UTF-8 needs
// SMTPUTF8 (RFC 6531 §3.4; Postfix answers "553 5.6.7 Must declare
// SMTPUTF8" to a RCPT without it, which refused a deliverable
// recipient), and to a server without the extension a Unicode domain
// goes as its A-labels (RFC 6531 §3.2). A UTF-8 local part cannot go
// there at all: refused is then the 553 5.6.7 delivery would bounce the
// mail with, a *ProbeError.
func probeEnvelope(c *smtp.Client, from, rcpt string) (string, string, *smtp.MailOptions, error) {
	if ascii(from) && ascii(rcpt) {
		return from, rcpt, nil, nil
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		return from, rcpt, &smtp.MailOptions{UTF8: true}, nil
	}
	f, okf := asciiAddr(from)
	r, okr := asciiAddr(rcpt)
	if !okf || !okr {
		return "", "", nil, &ProbeError{Code: noSMTPUTF8.Code, Enhanced: noSMTPUTF8.Enhanced, Text: noSMTPUTF8.Text}
	}
	return f, r, nil, nil
}

// probeAgent is an Agent with only what connecting needs: the probe's
// EHLO name and timeout, for tls=verify without ca= the roots delivery
// verifies against (EnvCAFile), and the address family it dials
// (EnvAddressFamily).
func probeAgent(helo string, timeout time.Duration, p tlsPolicy) (*Agent, error) {
	var opt Routing
	if p.mode == TLSVerify && p.caFile == "" {
		if f := os.Getenv(EnvCAFile); f != "" {
			roots, err := SystemRootsWith(f)
			if err != nil {
				return nil, err
			}
			opt.RootCAs = roots
		}
	}
	d := config.Duration{Duration: timeout}
	return &Agent{
		cfg:  config.Delivery{ConnectTimeout: d, CommandTimeout: d, OutboundFamily: config.OutboundFamily{AddressFamily: familyOf()}},
		host: helo,
		log:  slog.New(slog.DiscardHandler),
		rt:   &routing{opt: opt},
	}, nil
}

// ErrNoCertificate is SystemRootsWith's error for a file that holds no
// PEM certificate.
var ErrNoCertificate = errors.New("no certificate")

// SystemRootsWith returns the system roots plus the PEM certificates in
// file: what [delivery] ca_file makes delivery trust, in the daemon's
// Routing.RootCAs and in a route plugin's probes.
func SystemRootsWith(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w in %s", ErrNoCertificate, file)
	}
	return pool, nil
}
