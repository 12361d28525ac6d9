package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/tlscipher"
)

// infoPolicy records the TLS state and MAIL parameters each hook is shown.
type infoPolicy struct {
	AllowAll
	mu   sync.Mutex
	seen []string
}

func (p *infoPolicy) add(hook string, s *SessionInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%s tls=%v %s %s %d", hook, s.TLS, s.TLSVersion, s.TLSCipher, s.TLSCipherBits)
	if hook == "mail" || hook == "rcpt" {
		o := s.MailOpts
		auth := "-"
		if o.Auth != nil {
			auth = fmt.Sprintf("%q", *o.Auth)
		}
		line = fmt.Sprintf("%s size=%d body=%s utf8=%v requiretls=%v auth=%s", hook, o.Size, o.Body, o.SMTPUTF8, o.RequireTLS, auth)
	}
	p.seen = append(p.seen, strings.Join(strings.Fields(line), " "))
}

func (p *infoPolicy) Connect(_ context.Context, s *SessionInfo) *reply.Reply {
	p.add("connect", s)
	return nil
}

func (p *infoPolicy) Helo(_ context.Context, s *SessionInfo) *reply.Reply {
	p.add("helo", s)
	return nil
}

func (p *infoPolicy) Mail(_ context.Context, s *SessionInfo, _ string) *reply.Reply {
	p.add("mail", s)
	return nil
}

func (p *infoPolicy) Rcpt(_ context.Context, s *SessionInfo, _ *envelope.Recipient) *reply.Reply {
	p.add("rcpt", s)
	return nil
}

func (p *infoPolicy) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// smtpsAuthed starts a server whose Policy is p, with an implicit-TLS
// listener, and returns a session there, greeted and authenticated as
// a@example.org, and its TLS connection.
func smtpsAuthed(t *testing.T, p *infoPolicy) (*dialog, *tls.Conn) {
	t.Helper()
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
		o.Policy = p
	}, withUsers(t, map[string]string{"a@example.org": "pw"}))
	tc, err := tls.Dial("tcp", h.addr("smtps"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	d.ehlo()
	d.authPlain("a@example.org", "pw", "235 2.7.0 Authentication succeeded")
	return d, tc
}

// On an implicit-TLS listener the handshake comes before the connect
// checks, as Postfix's smtps has it: the Policy's Connect knows the
// protocol, the cipher suite and its key size, as every later hook does.
// The MAIL parameters reach Mail and Rcpt, and are gone with the
// transaction.
func TestPolicyInfoImplicitTLS(t *testing.T) {
	p := &infoPolicy{}
	d, tc := smtpsAuthed(t, p)
	d.cmd("MAIL FROM:<a@example.org> SIZE=1234 BODY=8bitmime SMTPUTF8 REQUIRETLS AUTH=a+2Bx@example.org", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<a@example.org> AUTH=<>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")

	cs := tc.ConnectionState()
	suite := fmt.Sprintf("tls=true TLSv1.3 %s %d", tls.CipherSuiteName(cs.CipherSuite), tlscipher.Bits(cs.CipherSuite))
	want := []string{
		"connect " + suite,
		"helo " + suite,
		`mail size=1234 body=8BITMIME utf8=true requiretls=true auth="a+x@example.org"`,
		`rcpt size=1234 body=8BITMIME utf8=true requiretls=true auth="a+x@example.org"`,
		`mail size=0 body= utf8=false requiretls=false auth=""`,
		`rcpt size=0 body= utf8=false requiretls=false auth=""`,
		"mail size=0 body= utf8=false requiretls=false auth=-",
	}
	if got := p.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the policy saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tlscipher.Bits(cs.CipherSuite) < 128 {
		t.Errorf("%s: %d bits", tls.CipherSuiteName(cs.CipherSuite), tlscipher.Bits(cs.CipherSuite))
	}
}

// After STARTTLS the cipher's key size comes with the rest of the TLS
// state, from the HELO that follows; before it, none.
func TestPolicyInfoSTARTTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	p := &infoPolicy{}
	h := start(t, func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
		o.Policy = p
	})
	d := h.dial()
	d.ehlo()
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, &tls.Config{RootCAs: clientTLS.RootCAs, ServerName: "mx.test", MaxVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = newDialog(t, tc)
	d.ehlo()
	cs := tc.ConnectionState()
	want := []string{"connect tls=false 0", "helo tls=false 0",
		fmt.Sprintf("helo tls=true TLSv1.2 %s %d", tls.CipherSuiteName(cs.CipherSuite), tlscipher.Bits(cs.CipherSuite))}
	if got := p.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the policy saw %q, want %q", got, want)
	}
}

// AUTH= names a mailbox (RFC 4954 §5), whose local part may be a quoted
// string: the Policy gets it in a MAIL command's form, quotes and all,
// not go-smtp's unquoted "a b@example.org", which is no mailbox.
func TestPolicyInfoAuthQuotedLocalPart(t *testing.T) {
	p := &infoPolicy{}
	d, _ := smtpsAuthed(t, p)
	d.cmd(`MAIL FROM:<a@example.org> AUTH=+22a+20b+5C+22c+22@example.org`, "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd(`MAIL FROM:<a@example.org> AUTH=+22b+40c+22@example.org`, "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd(`MAIL FROM:<a@example.org> AUTH=+22plain+22@example.org`, "250 2.0.0 Roger, accepting mail from <a@example.org>")
	want := []string{
		`mail size=0 body= utf8=false requiretls=false auth="\"a b\\\"c\"@example.org"`,
		`mail size=0 body= utf8=false requiretls=false auth="\"b@c\"@example.org"`,
		`mail size=0 body= utf8=false requiretls=false auth="plain@example.org"`,
	}
	var got []string
	for _, l := range p.lines() {
		if strings.HasPrefix(l, "mail ") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the policy saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
