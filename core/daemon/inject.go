package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// injectHelo is the name the daemon's own injections say in EHLO: the
// Received field then reads "from localhost ([127.0.0.1])".
const injectHelo = "localhost"

// inject submits an HTTP injection (POST /api/inject) over SMTP to the
// daemon's own first smtp listener, as `sluice sendmail` does: the
// message then takes the path of any message received there, through
// the pipeline, the limits and DKIM signing, and the client the listener
// sees is loopback (relay_networks decides whether it may relay). The
// recipients refused at RCPT are answered with their replies; the
// message is sent to the others. ctx ending (the HTTP client gone) ends
// the session, before the end of DATA leaving nothing queued.
func (d *Daemon) inject(ctx context.Context, in admin.Injection) (*admin.Injected, error) {
	if len(in.Recipients) == 0 {
		return nil, errors.New("no recipients")
	}
	addr, err := d.injectAddr()
	if err != nil {
		return nil, err
	}
	dialer := net.Dialer{Timeout: 30 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the smtp listener at %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	// As sendmail waits: a stage may take minutes at the end of DATA.
	c.CommandTimeout = 5 * time.Minute
	c.SubmissionTimeout = 10 * time.Minute
	if err := c.Hello(injectHelo); err != nil {
		return nil, injectFailure("EHLO", err, nil)
	}
	opts := &smtp.MailOptions{UTF8: !envelope.IsASCII(in.Sender) || !envelope.AllASCII(in.Recipients)}
	if !envelope.IsASCII(in.Content) {
		opts.Body = smtp.Body8BitMIME // RFC 6152
	}
	if err := c.Mail(in.Sender, opts); err != nil {
		return nil, injectFailure("MAIL", err, nil)
	}
	out := &admin.Injected{Accepted: []string{}, Rejected: []admin.RejectedRecipient{}}
	var refusal *reply.Reply // the refusal answered when every recipient is refused
	for i, rc := range in.Recipients {
		err := c.Rcpt(rc, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			out.Accepted = append(out.Accepted, rc)
			continue
		case !errors.As(err, &se):
			return nil, injectFailure("RCPT", err, nil)
		}
		r := smtpReply(se)
		out.Rejected = append(out.Rejected, admin.RejectedRecipient{Recipient: rc, Reply: r.String()})
		// A temporary refusal wins: the caller may try again later, and
		// what a 5xx refused is named in Rejected.
		if refusal == nil || r.Temporary() && !refusal.Temporary() {
			refusal = r
		}
		if tooManyRcpts(se) {
			// Past max_recipients (RFC 5321 §4.5.3.1.10): the rest
			// go in another transaction, the caller's next injection.
			// Sent anyway, each would be one more refusal, and the
			// listener closes the session at max_errors once they are
			// 1000 past it, failing the whole injection every time.
			for _, rest := range in.Recipients[i+1:] {
				out.Rejected = append(out.Rejected, admin.RejectedRecipient{Recipient: rest, Reply: r.String()})
			}
			break
		}
	}
	if len(out.Accepted) == 0 {
		_ = c.Quit()
		return nil, &admin.InjectRefused{Reply: refusal, Rejected: out.Rejected}
	}
	w, err := c.Data()
	if err != nil {
		return nil, injectFailure("DATA", err, out.Rejected)
	}
	// The DATA writer makes a bare LF CRLF and dot-stuffs (RFC 5321
	// §4.5.2); a CRLF stays as it is.
	if _, err := w.Write(in.Content); err != nil {
		_ = w.Close()
		return nil, injectFailure("DATA", err, out.Rejected)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, injectFailure("end of DATA", err, out.Rejected)
	}
	_ = c.Quit()
	out.ID = injectedID(resp.StatusText)
	return out, nil
}

// injectAddr is the address inject connects to: the first smtp listener's
// as bound now. One with tls_required is passed over, as the session
// stays in the clear: its 530 at MAIL would be answered 422, as if the
// message were refused for good, where it is the config that has no
// listener to inject through (503, ErrNoInjectListener). So is one that
// takes loopback for a PROXY protocol proxy: the session would have to
// open with a header naming a client. A wildcard address is reached on
// loopback.
func (d *Daemon) injectAddr() (string, error) {
	c := d.applied.Load()
	bound := d.smtp.Addrs()
	for _, l := range c.Listeners {
		a, ok := bound[l.Name].(*net.TCPAddr)
		if l.Kind != config.KindSMTP || !ok || l.TLSRequired {
			continue
		}
		a = loopbackFor(l.Listen, a)
		if proxied(l.ProxyProtocol, a.IP) {
			continue
		}
		return a.String(), nil
	}
	return "", admin.ErrNoInjectListener
}

// loopbackFor is a, the address the listener written as listen is bound
// to, or when a is a wildcard the loopback address to reach it on:
// 127.0.0.1, but ::1 for a listener written "[::]:PORT", as sendmail's
// submitAddr has it. Go binds "", 0.0.0.0 and :: alike, dual-stack, and
// names all three [::]: taken from the bound address alone, an injection
// through "0.0.0.0:25" came from ::1, which relay_networks =
// ["127.0.0.0/8"] and a dkim stage's sign_networks do not hold.
func loopbackFor(listen string, a *net.TCPAddr) *net.TCPAddr {
	if !a.IP.IsUnspecified() {
		return a
	}
	ip := net.IPv4(127, 0, 0, 1)
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if h, err := netip.ParseAddr(host); err == nil && h.Is6() && !h.Is4In6() {
			ip = net.IPv6loopback
		}
	}
	return &net.TCPAddr{IP: ip, Port: a.Port}
}

// proxied reports whether a connection from ip is one from a proxy of
// the listener's proxy_protocol list.
func proxied(proxies []config.Prefix, ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	for _, p := range proxies {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// injectFailure is a failed SMTP step of inject: the listener's refusal
// as an *admin.InjectRefused (with the recipients refused before it),
// anything else (a broken connection) as an error naming the step.
func injectFailure(step string, err error, rejected []admin.RejectedRecipient) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &admin.InjectRefused{Reply: smtpReply(se), Rejected: rejected}
	}
	return fmt.Errorf("injecting through the smtp listener: %s: %w", step, err)
}

// tooManyRcpts reports whether se is the listener's refusal of a
// recipient over max_recipients, 452 4.5.3 (reply.TooManyRcpts).
func tooManyRcpts(se *smtp.SMTPError) bool {
	return se.Code == reply.TooManyRcpts.Code && [3]int(se.EnhancedCode) == reply.TooManyRcpts.Enhanced
}

// smtpReply is a reply go-smtp's client read, as the reply package has
// it; the lines of a multi-line one are joined by a space.
func smtpReply(se *smtp.SMTPError) *reply.Reply {
	r := &reply.Reply{Code: se.Code, Text: strings.ReplaceAll(se.Message, "\n", " ")}
	if se.EnhancedCode != smtp.NoEnhancedCode {
		r.Enhanced = [3]int(se.EnhancedCode)
	}
	return r
}

// injectedID is the queue ID in the listener's "250 2.0.0 Ok: queued as
// ID"; "" if the text has none.
func injectedID(text string) string {
	_, after, ok := strings.Cut(text, "queued as ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(after, " ")
	if admin.CheckID(id) != nil {
		return ""
	}
	return id
}
