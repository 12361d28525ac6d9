package daemon

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A filter rule's authenticated condition sees the session as it is at
// each MAIL, with delay_reject holding the mail hook back to the RCPT
// and the connect and helo hooks held from before AUTH: an XCLIENT
// LOGIN counts, STARTTLS forgets it (RFC 3207 §4.2), an AUTH after EHLO
// counts from the next MAIL on, and each transaction after RSET is
// judged again. The rules are import-postfix's permit_sasl_authenticated
// before a sender table refusing the site's own domain from outside.
func TestFilterAuthenticatedFollowsTheSession(t *testing.T) {
	dir := t.TempDir()
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	hash, err := auth.HashBcrypt("secret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice@sluice.test:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	self := testlib.Build(t, "./cmd/sluice") // the filter plugin
	z := testlib.NewDNS(t)                   // the client's name: none, and no system resolver asked
	src := fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\ndelay_reject = true\n", filepath.Join(dir, "data")) +
		fmt.Sprintf("[auth]\nusers_file = %q\n[dns]\nservers = [%q]\n", users, z.Addr) +
		fmt.Sprintf("[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\ntls_cert = %q\ntls_key = %q\nxclient_hosts = [\"127.0.0.0/8\"]\n", certFile, keyFile) + `
[[stage]]
name = "restrictions"
plugin = "filter"
[[stage.config.rules]]
name = "sender: permit_sasl_authenticated"
hook = "mail"
authenticated = true
action = "pass"
[[stage.config.rules]]
name = "sender: own domain from outside"
hook = "mail"
match = '@sluice\.test$'
action = "reject"
text = "Not from outside"
`
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	addr := d.SMTPAddrs()["mx"].String()
	clientTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"}

	type session struct {
		raw net.Conn
		c   *textproto.Conn
	}
	dial := func() *session {
		t.Helper()
		raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
		s := &session{raw: raw, c: textproto.NewConn(raw)}
		if _, _, err := s.c.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		return s
	}
	step := func(s *session, code int, cmd string) string {
		t.Helper()
		if err := s.c.PrintfLine("%s", cmd); err != nil {
			t.Fatal(err)
		}
		_, msg, err := s.c.ReadResponse(code)
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return msg
	}
	startTLS := func(s *session) {
		t.Helper()
		step(s, 220, "STARTTLS")
		tc := tls.Client(s.raw, clientTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		s.raw, s.c = tc, textproto.NewConn(tc)
		step(s, 250, "EHLO laptop")
	}
	// sends is whether alice@sluice.test gets through as the sender:
	// delay_reject answers the held mail hook's refusal at RCPT.
	sends := func(s *session, what string, want bool) {
		t.Helper()
		step(s, 250, "MAIL FROM:<alice@sluice.test>")
		if err := s.c.PrintfLine("RCPT TO:<bob@sluice.test>"); err != nil {
			t.Fatal(err)
		}
		code, msg, err := s.c.ReadResponse(0)
		if err != nil && code == 0 {
			t.Fatal(err)
		}
		switch {
		case want && code != 250:
			t.Errorf("%s: RCPT got %d %s, want 250", what, code, msg)
		case !want && (code != 550 || !strings.Contains(msg, "Not from outside")):
			t.Errorf("%s: RCPT got %d %s, want 550 Not from outside", what, code, msg)
		}
		step(s, 250, "RSET")
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@sluice.test\x00secret"))

	// AUTH after EHLO: the connect and helo hooks are held from before it.
	s := dial()
	step(s, 250, "EHLO laptop")
	startTLS(s)
	sends(s, "under TLS, before AUTH", false)
	step(s, 235, "AUTH PLAIN "+plain)
	sends(s, "after AUTH", true)
	sends(s, "after AUTH, the next transaction", true)

	// XCLIENT's LOGIN counts, until STARTTLS forgets it.
	s = dial()
	step(s, 250, "EHLO proxy")
	step(s, 220, "XCLIENT LOGIN=alice@sluice.test")
	step(s, 250, "EHLO laptop")
	sends(s, "XCLIENT LOGIN", true)
	startTLS(s)
	sends(s, "XCLIENT LOGIN, then STARTTLS", false)
}
