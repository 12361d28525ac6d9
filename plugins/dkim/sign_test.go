package dkim

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const plainMessage = "From: Alice <alice@example.org>\n" +
	"To: Bob <bob@example.net>\n" +
	"Subject: quarterly report\n" +
	"Date: Fri, 11 Jul 2025 21:00:37 +0000\n" +
	"Message-ID: <1@example.org>\n" +
	"X-Mailer: test\n" +
	"\n" +
	"Hello,  Bob.\n" +
	"\n" +
	"Trailing blank lines and  spaces \n\n\n"

// signSetup makes an RSA and an Ed25519 key for example.org with Keygen,
// publishes both records on a loopback DNS server and returns the sign
// stage's config.
func signSetup(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	d := testlib.NewDNS(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	var keys []string
	for _, k := range []struct{ sel, kind string }{{"r1", KeyRSA}, {"e1", KeyEd25519}} {
		path, record, err := Keygen("example.org", k.sel, k.kind, dir)
		if err != nil {
			t.Fatal(err)
		}
		d.Add(t, record) // the printed line is valid zone-file syntax
		keys = append(keys, fmt.Sprintf(`{"domain": "example.org", "selector": %q, "key_file": %q}`, k.sel, path))
	}
	return `{"mode": "sign", "keys": [` + strings.Join(keys, ",") + `]` + extra + `}`
}

func TestSignThenVerify(t *testing.T) {
	for _, c := range []string{"", "relaxed/relaxed", "simple/simple", "relaxed/simple", "simple"} {
		t.Run("c="+c, func(t *testing.T) {
			extra := ""
			if c != "" {
				extra = fmt.Sprintf(`, "canonicalization": %q`, c)
			}
			signer := sdktest.New(t, &Plugin{}, signSetup(t, extra))
			txn := sdktest.NewTxn("alice@example.org", "bob@example.net") // from 127.0.0.1
			v := signer.Data(txn, []byte(plainMessage))
			if v.Action != sdk.ActionContinue || len(v.Edits) != 2 {
				t.Fatalf("verdict %v with %d edits, want two signatures", v.Action, len(v.Edits))
			}
			for _, e := range v.Edits {
				ins, ok := e.(sdk.InsertHeader)
				if !ok || ins.Index != 0 || ins.Name != "DKIM-Signature" {
					t.Fatalf("edit %s, want DKIM-Signature inserted at the top", sdk.DescribeEdit(e))
				}
				tags := parseTags(ins.Value)
				want := "relaxed/relaxed"
				if c != "" {
					want = c
				}
				if c == "simple" {
					want = "simple/simple"
				}
				if tags["c"] != want || tags["d"] != "example.org" {
					t.Errorf("c=%s d=%s, want c=%s d=example.org", tags["c"], tags["d"], want)
				}
				// Over-signing (RFC 6376 §5.4.2): From, Subject and To once
				// more than present; absent default fields not listed.
				listed := map[string]int{}
				for _, name := range strings.Split(strings.ToLower(tags["h"]), ":") {
					listed[name]++
				}
				for name, n := range map[string]int{"from": 2, "subject": 2, "to": 2, "date": 1, "message-id": 1, "cc": 0, "x-mailer": 0} {
					if got := listed[name]; got != n {
						t.Errorf("h=%s lists %s %d times, want %d", tags["h"], name, got, n)
					}
				}
			}
			signed := sdktest.Apply(t, []byte(plainMessage), v)
			rs := results(t, verifier(t).Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), signed))
			if len(rs) != 2 {
				t.Fatalf("results %+v", rs)
			}
			algs := map[string]bool{}
			for _, r := range rs {
				if r.Result != ResultPass {
					t.Errorf("%s: %s %s\n%s", r.Props["header.s"], r.Result, r.Reason, signed)
				}
				algs[r.Props["header.a"]] = true
			}
			if !algs["rsa-sha256"] || !algs["ed25519-sha256"] {
				t.Errorf("algorithms %v, want rsa-sha256 and ed25519-sha256", algs)
			}
			// Over-signing at work: a second Subject breaks both.
			forged := append([]byte("Subject: free money\r\n"), signed...)
			for _, r := range results(t, verifier(t).Data(sdktest.NewTxn("", "bob@example.net"), forged)) {
				if r.Result != ResultFail {
					t.Errorf("added Subject: %s, want fail", r.Result)
				}
			}
		})
	}
}

func TestSignWho(t *testing.T) {
	signer := sdktest.New(t, &Plugin{}, signSetup(t, `, "sign_networks": ["192.0.2.0/24", "2001:db8::1"]`))
	for _, tc := range []struct {
		name, ip, user, from, msgFrom string
		signs                         bool
	}{
		{"network", "192.0.2.7", "", "alice@example.org", "alice@example.org", true},
		{"v6 address", "2001:db8::1", "", "alice@example.org", "alice@example.org", true},
		{"authenticated", "203.0.113.9", "alice", "alice@example.org", "alice@example.org", true},
		{"stranger", "203.0.113.9", "", "alice@example.org", "alice@example.org", false},
		{"loopback not listed", "127.0.0.1", "", "alice@example.org", "alice@example.org", false},
		{"subdomain uses parent key", "192.0.2.7", "", "news@lists.example.org", "news@lists.example.org", true},
		{"envelope domain", "192.0.2.7", "", "bounce@example.org", "someone@elsewhere.example", true},
		{"no key", "192.0.2.7", "", "x@elsewhere.example", "x@elsewhere.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txn := sdktest.NewTxn(tc.from, "bob@example.net")
			txn.Session.ClientIP, txn.Session.AuthUser = tc.ip, tc.user
			msg := strings.Replace(plainMessage, "alice@example.org", tc.msgFrom, 1)
			v := signer.Data(txn, []byte(msg))
			if signed := len(v.Edits) > 0; signed != tc.signs {
				t.Fatalf("signed=%v, want %v (%s)", signed, tc.signs, v.Reason)
			}
			if tc.signs && !strings.Contains(v.Reason, "example.org") {
				t.Errorf("reason %q", v.Reason)
			}
		})
	}
}

func TestBothMode(t *testing.T) {
	cfg := strings.Replace(signSetup(t, ""), `"mode": "sign"`, `"mode": "both"`, 1)
	h := sdktest.New(t, &Plugin{}, cfg)
	local := sdktest.NewTxn("alice@example.org", "bob@example.net")
	v := h.Data(local, []byte(plainMessage))
	if len(v.Edits) != 2 || len(v.AuthResults) != 0 {
		t.Fatalf("local client: %d edits, %d results; want signed", len(v.Edits), len(v.AuthResults))
	}
	signed := sdktest.Apply(t, []byte(plainMessage), v)
	remote := sdktest.NewTxn("alice@example.org", "bob@example.net")
	remote.Session.ClientIP = "203.0.113.9"
	v = h.Data(remote, signed)
	if len(v.Edits) != 0 || len(v.AuthResults) != 2 || v.AuthResults[0].Result != ResultPass || v.AuthResults[1].Result != ResultPass {
		t.Fatalf("remote client: %d edits, results %+v; want verified", len(v.Edits), v.AuthResults)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := filepath.Join(dir, "pkcs1.pem")
	os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o600)
	if s, err := LoadKey(pkcs1); err != nil || !s.Public().(*rsa.PublicKey).Equal(&rk.PublicKey) {
		t.Fatalf("PKCS#1: %v", err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	bad := filepath.Join(dir, "pub.pem")
	os.WriteFile(bad, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o600)
	if _, err := LoadKey(bad); err == nil {
		t.Fatal("a public key was accepted as a signing key")
	}
}

func TestKeygen(t *testing.T) {
	// A directory that does not exist yet is made.
	dir := filepath.Join(t.TempDir(), "keys", "new")
	for _, kind := range []string{KeyRSA, KeyEd25519} {
		path, record, err := Keygen("Example.ORG.", "sel", kind, dir)
		if err != nil {
			t.Fatal(err)
		}
		if path != filepath.Join(dir, "sel.example.org.key") {
			t.Fatalf("path %s", path)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
		}
		b, _ := os.ReadFile(path)
		if blk, _ := pem.Decode(b); blk == nil || blk.Type != "PRIVATE KEY" {
			t.Fatalf("not a PKCS#8 PEM file:\n%s", b)
		}
		signer, err := LoadKey(path)
		if err != nil {
			t.Fatal(err)
		}
		prefix := `sel._domainkey.example.org. IN TXT "v=DKIM1; k=` + kind + `; p=`
		if !strings.HasPrefix(record, prefix) {
			t.Fatalf("record %s, want prefix %s", record, prefix)
		}
		var value string
		for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(record, -1) {
			s := m[1]
			if len(s) > 255 {
				t.Fatalf("a string of %d octets", len(s))
			}
			value += s
		}
		p, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(value, "v=DKIM1; k="+kind+"; p="))
		if err != nil {
			t.Fatal(err)
		}
		switch pub := signer.Public().(type) {
		case *rsa.PublicKey:
			got, err := x509.ParsePKIXPublicKey(p)
			if err != nil || !pub.Equal(got) || pub.N.BitLen() != 2048 {
				t.Fatalf("RSA p= does not match the key: %v", err)
			}
			if !strings.Contains(record, `" "`) {
				t.Errorf("a 2048-bit key record must be split: %s", record)
			}
		case ed25519.PublicKey:
			if !pub.Equal(ed25519.PublicKey(p)) { // RFC 8463 §4.2: the bare key
				t.Fatal("Ed25519 p= does not match the key")
			}
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Keygen("example.org", "sel", "dsa", dir); err == nil {
		t.Fatal("key type dsa accepted")
	}
	if _, _, err := Keygen("example.org", "sel", KeyEd25519, dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Keygen("example.org", "sel", KeyEd25519, dir); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
}

// TestSignWithoutKeysNeedsNoBody: the embedded default pipeline ends with
// a sign stage whose keys are []; it signs nothing, yet was sent every
// message whole (a 50 MB message made the stage's process grow to 182 MB
// RSS). Such a stage asks for the header section only; one with keys, or
// one that also verifies, still gets the body.
func TestSignWithoutKeysNeedsNoBody(t *testing.T) {
	t.Setenv(dnsresolve.EnvServers, testlib.NewDNS(t).Addr)
	for _, tc := range []struct {
		name, config string
		body         bool
	}{
		{"sign, no keys", `{"mode": "sign", "keys": []}`, false},
		{"sign, keys", signSetup(t, ""), true},
		{"both, no keys", `{"mode": "both", "keys": []}`, true},
		{"verify", `{"mode": "verify"}`, true},
	} {
		h := sdktest.New(t, &Plugin{}, tc.config)
		if got := h.Info().NeedsBody; got != tc.body {
			t.Errorf("%s: NeedsBody %v, want %v", tc.name, got, tc.body)
		}
	}
	v := sdktest.New(t, &Plugin{}, `{"mode": "sign", "keys": []}`).Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(plainMessage))
	if v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
		t.Errorf("keyless sign stage: %v with %d edits, want continue and nothing", v.Action, len(v.Edits))
	}
}

// TestSignListUnsubscribe: one-click unsubscription (RFC 8058 §4) counts
// only when a DKIM signature covers List-Unsubscribe and
// List-Unsubscribe-Post, so the default h= lists them when the message
// has them; other list fields, which lists add on the way, stay out.
func TestSignListUnsubscribe(t *testing.T) {
	signer := sdktest.New(t, &Plugin{}, signSetup(t, ""))
	msg := strings.Replace(plainMessage, "X-Mailer: test\n",
		"List-Id: <news.example.org>\n"+
			"List-Unsubscribe: <https://example.org/unsub/42>\n"+
			"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n", 1)
	v := signer.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(msg))
	if len(v.Edits) != 2 {
		t.Fatalf("%d edits, want two signatures (%s)", len(v.Edits), v.Reason)
	}
	for _, e := range v.Edits {
		listed := map[string]int{}
		h := parseTags(e.(sdk.InsertHeader).Value)["h"]
		for _, name := range strings.Split(strings.ToLower(h), ":") {
			listed[name]++
		}
		for name, n := range map[string]int{"list-unsubscribe": 1, "list-unsubscribe-post": 1, "list-id": 0} {
			if listed[name] != n {
				t.Errorf("h=%s lists %s %d times, want %d", h, name, listed[name], n)
			}
		}
	}
	signed := sdktest.Apply(t, []byte(msg), v)
	txn := sdktest.NewTxn("alice@example.org", "bob@example.net")
	for _, r := range results(t, verifier(t).Data(txn, signed)) {
		if r.Result != ResultPass {
			t.Errorf("%s: %s %s", r.Props["header.s"], r.Result, r.Reason)
		}
	}
	forged := strings.Replace(string(signed), "unsub/42", "unsub/43", 1)
	for _, r := range results(t, verifier(t).Data(txn, []byte(forged))) {
		if r.Result != ResultFail {
			t.Errorf("changed List-Unsubscribe: %s %s, want fail", r.Props["header.s"], r.Result)
		}
	}
}

// TestSignUnicodeDomain: d= holds A-labels (RFC 6376 §3.5), and the key
// for a Unicode domain signs SMTPUTF8 mail whose From has either form,
// whichever form the config and keygen were given. Before, the key's
// domain went into d= as written, and a From in the other form found no
// key.
func TestSignUnicodeDomain(t *testing.T) {
	d := testlib.NewDNS(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	dir := t.TempDir()
	path, record, err := Keygen("Bücher.example", "u", KeyEd25519, dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "u.xn--bcher-kva.example.key") || !strings.HasPrefix(record, "u._domainkey.xn--bcher-kva.example. IN TXT ") {
		t.Fatalf("keygen: %s, %s; want the A-label in both", path, record)
	}
	d.Add(t, record)
	for _, configured := range []string{"bücher.example", "XN--BCHER-KVA.example."} {
		cfg := fmt.Sprintf(`{"mode": "sign", "keys": [{"domain": %q, "selector": "u", "key_file": %q}]}`, configured, path)
		signer := sdktest.New(t, &Plugin{}, cfg)
		for _, from := range []string{"jörg@bücher.example", "jörg@xn--bcher-kva.example", "jörg@BÜCHER.example"} {
			msg := strings.Replace(plainMessage, "alice@example.org", from, 1)
			txn := sdktest.NewTxn(from, "bob@example.net")
			v := signer.Data(txn, []byte(msg))
			if len(v.Edits) != 1 {
				t.Errorf("key for %s, From %s: %d edits (%s), want a signature", configured, from, len(v.Edits), v.Reason)
				continue
			}
			if dtag := parseTags(v.Edits[0].(sdk.InsertHeader).Value)["d"]; dtag != "xn--bcher-kva.example" {
				t.Errorf("key for %s, From %s: d=%s, want the A-label", configured, from, dtag)
			}
			rs := results(t, verifier(t).Data(txn, sdktest.Apply(t, []byte(msg), v)))
			if len(rs) != 1 || rs[0].Result != ResultPass {
				t.Errorf("key for %s, From %s: %+v, want pass", configured, from, rs)
			}
		}
	}
}
