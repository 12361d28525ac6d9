//go:build interop

package interop

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/plugins/dkim"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestARCWithDkimpy: Sluice's ARC seals and dkimpy's (Debian's
// python3-dkim, an independent implementation) verify each other, in both
// orders along one chain: Sluice seals i=1, dkimpy verifies it and seals
// i=2 (cv=pass), Sluice verifies that and seals i=3 (cv=pass), dkimpy
// verifies the three; a chain dkimpy started is verified by Sluice, and
// a body changed after sealing fails in both.
func TestARCWithDkimpy(t *testing.T) {
	p := newARCPeers(t)
	ourKey := p.ourKey("forwarder.example", "arc", dkim.KeyRSA)
	signer, err := dkim.GenerateKey(dkim.KeyRSA)
	if err != nil {
		t.Fatal(err)
	}
	// dkimpy's key in PKCS#1, the form dkimpy reads.
	pyKey := filepath.Join(p.dir, "py.pem")
	der := x509.MarshalPKCS1PrivateKey(signer.(*rsa.PrivateKey))
	if err := os.WriteFile(pyKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	p.publish("list.example", "py", signer)
	sealer := p.sealer("forwarder.example", "arc", ourKey)

	one := p.seal(sealer, message("alice@example.org", "forwarded"))
	if ok, out := p.pyVerify("verify", one); !ok {
		t.Fatalf("dkimpy does not verify Sluice's i=1 seal: %s\n%s", out, one)
	}
	two := p.pySeal("seal", one, pyKey, "py", "; arc=pass")
	if r := p.ourVerdict(two); r.Result != "pass" {
		t.Fatalf("Sluice on dkimpy's i=2: %+v\n%s", r, two)
	}
	three := p.seal(sealer, two)
	if !bytes.Contains(three, []byte("ARC-Seal: i=3; cv=pass;")) {
		t.Fatalf("Sluice's i=3 seal is not cv=pass:\n%s", three)
	}
	if ok, out := p.pyVerify("verify", three); !ok {
		t.Fatalf("dkimpy does not verify Sluice's i=3 seal over its own: %s\n%s", out, three)
	}

	started := p.pySeal("seal", message("alice@example.org", "started by dkimpy"), pyKey, "py", "")
	if r := p.ourVerdict(started); r.Result != "pass" || r.Props["header.oldest-pass"] != "0" {
		t.Fatalf("Sluice on dkimpy's i=1: %+v\n%s", r, started)
	}
	p.tamperedFailBoth("verify", map[string][]byte{"dkimpy's i=1": started, "the three-set chain": three})
}

// TestARCEd25519WithDkimpy: dkimpy 1.1.4 takes ARC Sets of rsa-sha256
// only (its ARC_HASH_ALGORITHMS), so it fails Sluice's ed25519-sha256
// seal, as a receiver running it would; checked here so that the README's
// word on it is kept true. Its DKIM code does Ed25519 (RFC 8463), and
// with ARC's algorithms widened to DKIM's (arc.py's -ed25519 modes, which
// leave canonicalization, hashing and signing to dkimpy) the two verify
// each other's Ed25519 seals along one chain, as TestARCWithDkimpy does
// with RSA.
func TestARCEd25519WithDkimpy(t *testing.T) {
	p := newARCPeers(t)
	sealer := p.sealer("forwarder.example", "ed", p.ourKey("forwarder.example", "ed", dkim.KeyEd25519))
	signer, err := dkim.GenerateKey(dkim.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	// dkimpy takes an Ed25519 key as the base64 of its 32-octet seed.
	pyKey := filepath.Join(p.dir, "py.seed")
	seed := base64.StdEncoding.EncodeToString(signer.(ed25519.PrivateKey).Seed())
	if err := os.WriteFile(pyKey, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.publish("list.example", "pyed", signer)

	one := p.seal(sealer, message("alice@example.org", "forwarded"))
	if !bytes.Contains(one, []byte("ARC-Seal: i=1; cv=none; a=ed25519-sha256;")) {
		t.Fatalf("Sluice's seal is not ed25519-sha256:\n%s", one)
	}
	if ok, out := p.pyVerify("verify", one); ok || !strings.Contains(out, "unknown signature algorithm: b'ed25519-sha256'") {
		t.Errorf("dkimpy as shipped on Sluice's Ed25519 seal: %s (the README says it fails such seals)", out)
	}
	if ok, out := p.pyVerify("verify-ed25519", one); !ok {
		t.Fatalf("dkimpy does not verify Sluice's Ed25519 i=1 seal: %s\n%s", out, one)
	}
	two := p.pySeal("seal-ed25519", one, pyKey, "pyed", "; arc=pass")
	if !bytes.Contains(two, []byte("a=ed25519-sha256")) {
		t.Fatalf("dkimpy's i=2 is not ed25519-sha256:\n%s", two)
	}
	if r := p.ourVerdict(two); r.Result != "pass" {
		t.Fatalf("Sluice on dkimpy's Ed25519 i=2: %+v\n%s", r, two)
	}
	three := p.seal(sealer, two)
	if ok, out := p.pyVerify("verify-ed25519", three); !ok {
		t.Fatalf("dkimpy does not verify Sluice's Ed25519 i=3 seal: %s\n%s", out, three)
	}

	started := p.pySeal("seal-ed25519", message("alice@example.org", "started by dkimpy"), pyKey, "pyed", "")
	if r := p.ourVerdict(started); r.Result != "pass" {
		t.Fatalf("Sluice on dkimpy's Ed25519 i=1: %+v\n%s", r, started)
	}
	p.tamperedFailBoth("verify-ed25519", map[string][]byte{"dkimpy's i=1": started, "the three-set chain": three})
}

// arcPeers is Sluice's ARC stages and dkimpy (arc.py) over one loopback
// zone, dkimpy reading the same keys from a file.
type arcPeers struct {
	t        *testing.T
	dir      string
	d        *testlib.DNS
	keyFile  string
	keys     string
	verifier *sdktest.Harness
}

func newARCPeers(t *testing.T) *arcPeers {
	t.Helper()
	if _, err := exec.Command(python, "-c", "import dkim, authres, nacl").CombinedOutput(); err != nil {
		t.Fatalf("python3-dkim and python3-authres not installed (make interop installs them): %v", err)
	}
	p := &arcPeers{t: t, dir: t.TempDir(), d: testlib.NewDNS(t)}
	t.Setenv(dnsresolve.EnvServers, p.d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	t.Setenv(dkim.EnvHostname, "mx.forwarder.example")
	p.keyFile = filepath.Join(p.dir, "keys.txt")
	p.verifier = sdktest.New(t, &dkim.Plugin{}, `{"mode": "verify"}`)
	return p
}

// publish puts signer's key record at selector._domainkey.domain, in the
// zone and in dkimpy's key file.
func (p *arcPeers) publish(domain, selector string, signer crypto.Signer) {
	p.t.Helper()
	record, err := dkim.TXTRecord(domain, selector, signer)
	if err != nil {
		p.t.Fatal(err)
	}
	p.d.Add(p.t, record)
	value, _ := dkim.TXTValue(signer)
	p.keys += selector + "._domainkey." + domain + " " + value + "\n"
	if err := os.WriteFile(p.keyFile, []byte(p.keys), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// ourKey makes Sluice's sealing key of kind and publishes it.
func (p *arcPeers) ourKey(domain, selector, kind string) string {
	p.t.Helper()
	path, _, err := dkim.Keygen(domain, selector, kind, p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	p.publish(domain, selector, mustLoadKey(p.t, path))
	return path
}

func (p *arcPeers) sealer(domain, selector, keyPath string) *sdktest.Harness {
	return sdktest.New(p.t, &dkim.Plugin{}, fmt.Sprintf(`{"mode": "sign", "keys": [], "arc": {"domain": %q, "selector": %q, "key_file": %q}}`, domain, selector, keyPath))
}

func arcTxn() *sdk.Txn {
	tx := sdktest.NewTxn("alice@example.org", "list@forwarder.example")
	tx.Session.ClientIP = "192.0.2.7" // from outside: sealed, not signed
	return tx
}

func (p *arcPeers) seal(sealer *sdktest.Harness, msg []byte) []byte {
	p.t.Helper()
	v := sealer.Data(arcTxn(), msg)
	if len(v.Edits) != 3 {
		p.t.Fatalf("Sluice did not seal: %s", v.Reason)
	}
	return sdktest.Apply(p.t, msg, v)
}

func (p *arcPeers) ourVerdict(msg []byte) sdk.AuthResult {
	p.t.Helper()
	for _, r := range p.verifier.Data(arcTxn(), msg).AuthResults {
		if r.Method == "arc" {
			return r
		}
	}
	p.t.Fatalf("no arc result for\n%s", msg)
	return sdk.AuthResult{}
}

func (p *arcPeers) run(args ...string) ([]byte, error) {
	p.t.Helper()
	cmd := exec.Command(python, append([]string{scriptPath(p.t, "arc.py")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

func (p *arcPeers) file(msg []byte) string {
	f, err := os.CreateTemp(p.dir, "msg-*.eml")
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(msg); err != nil {
		p.t.Fatal(err)
	}
	return f.Name()
}

// pyVerify runs arc.py's mode verify or verify-ed25519 over msg.
func (p *arcPeers) pyVerify(mode string, msg []byte) (bool, string) {
	p.t.Helper()
	out, err := p.run(mode, p.file(msg), p.keyFile)
	if !bytes.Contains(out, []byte("arc verify: ")) {
		p.t.Fatalf("arc.py did not run: %v\n%s", err, out)
	}
	return err == nil, string(out)
}

// pySeal has dkimpy seal msg as list.example with the key at key.
func (p *arcPeers) pySeal(mode string, msg []byte, key, selector, arc string) []byte {
	p.t.Helper()
	// dkimpy takes the results, and cv= from their arc=, from the
	// Authentication-Results of its own authserv-id.
	withAR := append([]byte("Authentication-Results: py.list.example; spf=pass smtp.mailfrom=alice@example.org"+arc+"\r\n"), msg...)
	out, err := p.run(mode, p.file(withAR), p.keyFile, key, "list.example", selector, "py.list.example")
	if err != nil {
		p.t.Fatalf("dkimpy did not seal: %v\n%s", err, out)
	}
	return out
}

// tamperedFailBoth changes each message's body: Sluice and dkimpy (its
// verify mode) fail it.
func (p *arcPeers) tamperedFailBoth(verify string, msgs map[string][]byte) {
	p.t.Helper()
	for name, msg := range msgs {
		tampered := bytes.Replace(msg, []byte("this is the body."), []byte("this is another body."), 1)
		if bytes.Equal(tampered, msg) {
			p.t.Fatalf("%s: nothing tampered", name)
		}
		if r := p.ourVerdict(tampered); r.Result != "fail" || !strings.Contains(r.Reason, "body hash") {
			p.t.Errorf("%s, body changed: Sluice says %+v, want fail on the body hash", name, r)
		}
		if ok, out := p.pyVerify(verify, tampered); ok {
			p.t.Errorf("%s, body changed: dkimpy says %s", name, out)
		}
	}
}

func mustLoadKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	k, err := dkim.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
