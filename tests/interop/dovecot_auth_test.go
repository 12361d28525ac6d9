//go:build interop

package interop

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Dovecot's auth service as the password check of Sluice's AUTH ([auth]
// dovecot_socket), as Postfix's smtpd_sasl_type = dovecot: a `dovecot -F`
// running only its auth service (dovecot/auth.conf) with a passwd-file of
// {SHA512-CRYPT} and {PLAIN} passwords (dovecot/auth-users), its
// auth-client socket and an inet listener in the test's temp dir.

type dovecotAuth struct {
	socket, inet string
	stop         func()
}

// startDovecotAuth runs Dovecot's auth service; stop ends it before the
// test does (cleanup stops it otherwise).
func startDovecotAuth(t *testing.T) *dovecotAuth {
	t.Helper()
	// The auth process (user dovecot) reads the passwd-file.
	bin, dir := dovecotDir(t)
	users, err := os.ReadFile(filepath.Join("dovecot", "auth-users"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth-users"), users, 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.ParseFiles(filepath.Join("dovecot", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	inet := freeAddr(t)
	var conf bytes.Buffer
	if err := tmpl.Execute(&conf, map[string]string{"Dir": dir, "Port": port(inet)}); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := runDovecot(t, bin, dir, confFile, inet)
	return &dovecotAuth{socket: filepath.Join(dir, "run", "auth-client"), inet: inet, stop: d.stop}
}

// swaksAuth runs swaks with STARTTLS and AUTH against addr; it returns
// swaks' transcript (swaks exits non-zero on a refusal).
func swaksAuth(t *testing.T, addr, mech, user, pass, from string) string {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	out, _ := exec.Command(need(t, "swaks"), "--server", host, "--port", p, "--tls",
		"--auth", mech, "--auth-user", user, "--auth-password", pass,
		"--from", from, "--to", "rcpt@example.net",
		"--header", "Subject: interop-dovecot-auth", "--body", "hello via Dovecot SASL").CombinedOutput()
	return string(out)
}

// submission renders a submission listener with a fresh certificate.
func submission(t *testing.T, addr string) string {
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	return fmt.Sprintf("[[listener]]\nname = \"sub\"\nlisten = %q\nkind = \"submission\"\ntls_cert = %q\ntls_key = %q\n", addr, certFile, keyFile)
}

// TestDovecotAuth: swaks submits through Sluice's submission listener,
// AUTH checked by Dovecot over its auth-client socket. alice's
// SHA512-CRYPT password (which users_file cannot hold) is accepted and
// her mail relayed to the sink; bob's wrong password gets 535 5.7.8;
// "BOB@Example.org" logs in with LOGIN as bob@example.org, the name
// Dovecot answers, which may then send as that address; with Dovecot
// stopped, AUTH gets 454 4.7.0.
func TestDovecotAuth(t *testing.T) {
	dc := startDovecotAuth(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sub := freeAddr(t)
	startSluiceWith(t, sink.Addr, submission(t, sub)+fmt.Sprintf("[auth]\ndovecot_socket = %q\n", dc.socket))

	out := swaksAuth(t, sub, "PLAIN", "alice@example.org", "correct horse", "alice@example.org")
	if !strings.Contains(out, "235 2.7.0 Authentication succeeded") || !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("alice (SHA512-CRYPT, PLAIN) not accepted:\n%s", out)
	}
	if !strings.Contains(out, "250-AUTH PLAIN LOGIN") && !strings.Contains(out, "250 AUTH PLAIN LOGIN") {
		t.Errorf("EHLO did not offer Dovecot's PLAIN and LOGIN:\n%s", out)
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	if d.From != "alice@example.org" || !bytes.Contains(d.Data, []byte("with ESMTPSA id ")) {
		t.Errorf("at the sink: from %q,\n%s", d.From, d.Data)
	}

	out = swaksAuth(t, sub, "LOGIN", "bob@example.org", "wrong", "bob@example.org")
	if !strings.Contains(out, "535 5.7.8 Authentication credentials invalid") {
		t.Fatalf("wrong password not refused with 535 5.7.8:\n%s", out)
	}
	out = swaksAuth(t, sub, "LOGIN", "BOB@Example.org", "battery staple", "bob@example.org")
	if !strings.Contains(out, "235 2.7.0 Authentication succeeded") || !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("BOB@Example.org (PLAIN password, LOGIN) not accepted as bob@example.org:\n%s", out)
	}

	dc.stop()
	out = swaksAuth(t, sub, "PLAIN", "alice@example.org", "correct horse", "alice@example.org")
	if !strings.Contains(out, "454 4.7.0 Temporary authentication failure") {
		t.Fatalf("AUTH with Dovecot stopped not answered 454 4.7.0:\n%s", out)
	}
	if n := len(sink.Deliveries()); n != 2 {
		t.Errorf("%d messages at the sink, want 2", n)
	}
}

// TestDovecotAuthInet: dovecot_socket = "inet:HOST:PORT", Postfix's form
// for a Dovecot auth inet_listener.
func TestDovecotAuthInet(t *testing.T) {
	dc := startDovecotAuth(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sub := freeAddr(t)
	startSluiceWith(t, sink.Addr, submission(t, sub)+fmt.Sprintf("[auth]\ndovecot_socket = \"inet:%s\"\n", dc.inet))
	out := swaksAuth(t, sub, "PLAIN", "bob@example.org", "battery staple", "bob@example.org")
	if !strings.Contains(out, "235 2.7.0 Authentication succeeded") || !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("bob not accepted over inet:\n%s", out)
	}
	sink.WaitN(t, 1, 30*time.Second)
}
