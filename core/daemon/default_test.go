package daemon

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/plugins/dkim"
)

// TestDefaultPipelineStarts boots the embedded default config (addresses
// moved to free ports, DNS to a loopback server) with its first-party
// stages run as `sluice plugin serve NAME`, and checks every stage ran on
// a message, in the documented order.
func TestDefaultPipelineStarts(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dns := testlib.NewDNS(t, "remote.test. 60 IN MX 10 mx.remote.test.",
		`_dmarc.strict.test. 60 IN TXT "v=DMARC1; p=reject"`)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	c := config.Default()
	c.DNS.Servers = []string{dns.Addr} // handed to the plugin processes
	c.Listeners[0].Listen = "127.0.0.1:0"
	c.Admin.Listen = "127.0.0.1:0"
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Delivery.Relay = sink.Addr
	d, err := Start(Options{Config: c, Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	r, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@localhost", []string{"bob@remote.test"},
		testlib.Message("alice@localhost", "bob@remote.test", "default", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	sink.WaitN(t, 1, 20*time.Second)
	var order []string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Hook == "data" {
			order = append(order, e.Stage)
		}
	}
	if got := strings.Join(order, ","); got != "spf,dkim-verify,dmarc,dkim-sign" {
		t.Fatalf("data hook order %q", got)
	}
	// The site's own mail: a loopback client (the default relay_networks,
	// and the spf stage's default skip_networks) sending From a p=reject
	// domain is not judged by DMARC (RFC 7489 §6.6: a receiver's check),
	// as it has no SPF result and no signature yet. That DMARC still
	// judges outside clients, asking [dns], is TestDefaultPipelineOwnMail's.
	r, err = testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@strict.test", []string{"bob@remote.test"},
		testlib.Message("alice@strict.test", "bob@remote.test", "own", "hi"))
	if err != nil {
		t.Fatalf("own mail from a p=reject domain: %v", err)
	}
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "dmarc" && e.Hook == "data" && !strings.Contains(e.Reason, "not evaluated, client 127.0.0.1 in skip_networks") {
			t.Fatalf("dmarc trace entry %+v, want the skip said", e)
		}
	}
}

// TestDefaultPipelineOwnMail: the default pipeline (spf → dkim verify →
// dmarc → dkim sign) with a signing key for sign.test, whose DMARC policy
// is p=reject, lets the site's own mail out signed — from its network and
// from an AUTH submission client, neither of which SPF or DMARC judges —
// and refuses outside mail forging that From domain. 127.0.0.1 is the
// site's network; clients from 127.0.0.2 are the outside world.
func TestDefaultPipelineOwnMail(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sign.test")
	dns := testlib.NewDNS(t, keyRecord,
		`_dmarc.sign.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`sign.test. 60 IN TXT "v=spf1 -all"`,
		`evil.test. 60 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`_dmarc.partner.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`partner.test. 60 IN TXT "v=spf1 ip4:127.0.0.2 -all"`)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ca := testlib.NewCA(t)
	certFile, certKey := testlib.WriteKeyPair(t, ca.Issue("mx.own.test"))
	hash, err := auth.HashBcrypt("secret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("carol@sign.test:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// core/config/default.toml's pipeline; the site's network is
	// 127.0.0.1 alone (the defaults skip and sign all of loopback).
	src := fmt.Sprintf(`
hostname = "mx.own.test"
data_dir = %q
local_domains = ["own.test"]
relay_networks = ["127.0.0.1"]
[dns]
servers = [%q]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name   = "mx"
listen = "127.0.0.1:0"
[[listener]]
name     = "submission"
listen   = "127.0.0.1:0"
kind     = "submission"
tls_cert = %q
tls_key  = %q
[auth]
users_file = %q
[delivery]
relay = %q
[[stage]]
name     = "spf"
plugin   = "spf"
on_error = "continue"
[stage.config]
skip_networks = ["127.0.0.1"]
[[stage]]
name     = "dkim-verify"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode = "verify"
[[stage]]
name     = "dmarc"
plugin   = "dmarc"
on_error = "continue"
[stage.config]
skip_networks = ["127.0.0.1"]
[[stage]]
name     = "dkim-sign"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode          = "sign"
keys          = [{ domain = "sign.test", selector = "s1", key_file = %q }]
sign_networks = ["127.0.0.1"]
`, filepath.Join(dir, "data"), dns.Addr, certFile, certKey, users, sink.Addr, keyFile)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	mx, sub := d.SMTPAddrs()["mx"].String(), d.SMTPAddrs()["submission"].String()
	tlsConfig := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.own.test"}

	// The site's network, and an AUTH client from outside it: accepted,
	// signed by d=sign.test, no dmarc result claimed.
	if _, err := sendFrom("127.0.0.1", mx, nil, "", "alice@sign.test", "bob@remote.test",
		testlib.Message("alice@sign.test", "bob@remote.test", "network", "hi")); err != nil {
		t.Fatalf("own network's mail from a p=reject domain: %v", err)
	}
	if _, err := sendFrom("127.0.0.2", sub, tlsConfig, "carol@sign.test:secret", "carol@sign.test", "bob@remote.test",
		testlib.Message("carol@sign.test", "bob@remote.test", "submission", "hi")); err != nil {
		t.Fatalf("AUTH client's mail from a p=reject domain: %v", err)
	}
	for _, m := range sink.WaitN(t, 2, 20*time.Second) {
		data := string(m.Data)
		if !strings.Contains(data, "DKIM-Signature:") || strings.Contains(data, "dmarc=") {
			t.Fatalf("own mail not signed, or judged by DMARC:\n%s", data)
		}
		verifs, err := msgdkim.VerifyWithOptions(strings.NewReader(data), &msgdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				signer, err := dkim.LoadKey(keyFile)
				if err != nil || name != "s1._domainkey.sign.test" {
					return nil, fmt.Errorf("no key %s: %v", name, err)
				}
				v, err := dkim.TXTValue(signer)
				return []string{v}, err
			}})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "sign.test" {
			t.Fatalf("signature of d=sign.test does not verify (%v):\n%s", err, data)
		}
	}

	// Outside, forging the From domain with an SPF pass of its own: DMARC
	// asks [dns] for sign.test's p=reject and refuses.
	_, err = sendFrom("127.0.0.2", mx, nil, "", "x@evil.test", "bob@own.test",
		testlib.Message("alice@sign.test", "bob@own.test", "forged", "hi"))
	if err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1 DMARC policy of sign.test") {
		t.Fatalf("forged From from outside: %v, want 550 5.7.1", err)
	}
	// Outside with no aligned SPF pass, signed by sign.test: the signature
	// decides. Its key's lookup failing for now (SERVFAIL, dkim=temperror)
	// defers the message instead of applying p=reject to it.
	signer, err := dkim.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	dns.Fail("s2._domainkey.sign.test")
	for _, tc := range []struct{ selector, want string }{{"s2", "451 4.7.1 DMARC policy of sign.test: temperror"}, {"s1", ""}} {
		var signed bytes.Buffer
		raw := testlib.Message("alice@sign.test", "bob@own.test", "signed-"+tc.selector, "hi")
		if err := msgdkim.Sign(&signed, bytes.NewReader(raw), &msgdkim.SignOptions{Domain: "sign.test", Selector: tc.selector, Signer: signer}); err != nil {
			t.Fatal(err)
		}
		_, err := sendFrom("127.0.0.2", mx, nil, "", "x@evil.test", "bob@own.test", signed.Bytes())
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Fatalf("signed with s=%s from outside: %v, want %q", tc.selector, err, tc.want)
		}
	}
	data := string(sink.WaitN(t, 3, 20*time.Second)[2].Data)
	if !strings.Contains(data, "dkim=pass header.a=ed25519-sha256") || !strings.Contains(data, "dmarc=pass") {
		t.Fatalf("outside mail signed by sign.test not passed:\n%s", data)
	}

	// Outside with an aligned SPF pass: delivered, judged, and Received-SPF
	// names the receiver as the configured hostname.
	if _, err := sendFrom("127.0.0.2", mx, nil, "", "a@partner.test", "bob@own.test",
		testlib.Message("a@partner.test", "bob@own.test", "partner", "hi")); err != nil {
		t.Fatal(err)
	}
	data = string(sink.WaitN(t, 4, 20*time.Second)[3].Data)
	for _, want := range []string{"Received-SPF: pass (mx.own.test: ", " receiver=mx.own.test;", "Authentication-Results: mx.own.test;",
		"spf=pass smtp.mailfrom=a@partner.test", "dmarc=pass"} {
		if !strings.Contains(data, want) {
			t.Fatalf("no %q in\n%s", want, data)
		}
	}
	if strings.Contains(data, "DKIM-Signature:") {
		t.Fatalf("outside mail signed:\n%s", data)
	}
}

// sendFrom submits one message from the local address src (the test's
// stand-in for a client's network), after STARTTLS and AUTH PLAIN with
// "user:password" auth when tlsConfig is set. An SMTP error reads as on
// the wire, as testlib.Send has it.
func sendFrom(src, addr string, tlsConfig *tls.Config, userPass, from, to string, data []byte) (string, error) {
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}).Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	var c *smtp.Client
	if tlsConfig != nil {
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return "", testlib.WireError(err) // it closed conn
		}
	} else {
		c = smtp.NewClient(conn)
		if err := c.Hello("client.test"); err != nil {
			c.Close()
			return "", testlib.WireError(err)
		}
	}
	defer c.Close()
	if tlsConfig != nil {
		user, pass, _ := strings.Cut(userPass, ":")
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return "", testlib.WireError(err)
		}
	}
	return testlib.Transact(c, from, []string{to}, data)
}
