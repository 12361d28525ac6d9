//go:build interop

package interop

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
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
	if _, err := exec.Command(python, "-c", "import dkim, authres").CombinedOutput(); err != nil {
		t.Fatalf("python3-dkim and python3-authres not installed (make interop installs them): %v", err)
	}
	dir := t.TempDir()
	d := testlib.NewDNS(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	t.Setenv(dkim.EnvHostname, "mx.forwarder.example")

	// Sluice's sealing key, and dkimpy's (PKCS#1, the form dkimpy reads).
	ourKey, ourRecord, err := dkim.Keygen("forwarder.example", "arc", dkim.KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, ourRecord)
	signer, err := dkim.GenerateKey(dkim.KeyRSA)
	if err != nil {
		t.Fatal(err)
	}
	pyKey := filepath.Join(dir, "py.pem")
	der := x509.MarshalPKCS1PrivateKey(signer.(*rsa.PrivateKey))
	if err := os.WriteFile(pyKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pyRecord, err := dkim.TXTRecord("list.example", "py", signer)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, pyRecord)
	ourValue, _ := dkim.TXTValue(mustLoadKey(t, ourKey))
	pyValue, _ := dkim.TXTValue(signer)
	keyFile := filepath.Join(dir, "keys.txt")
	keys := "arc._domainkey.forwarder.example " + ourValue + "\npy._domainkey.list.example " + pyValue + "\n"
	if err := os.WriteFile(keyFile, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}

	sealer := sdktest.New(t, &dkim.Plugin{}, fmt.Sprintf(`{"mode": "sign", "keys": [], "arc": {"domain": "forwarder.example", "selector": "arc", "key_file": %q}}`, ourKey))
	verifier := sdktest.New(t, &dkim.Plugin{}, `{"mode": "verify"}`)
	txn := func() *sdk.Txn {
		tx := sdktest.NewTxn("alice@example.org", "list@forwarder.example")
		tx.Session.ClientIP = "192.0.2.7" // from outside: sealed, not signed
		return tx
	}
	seal := func(msg []byte) []byte {
		t.Helper()
		v := sealer.Data(txn(), msg)
		if len(v.Edits) != 3 {
			t.Fatalf("Sluice did not seal: %s", v.Reason)
		}
		return sdktest.Apply(t, msg, v)
	}
	ourVerdict := func(msg []byte) sdk.AuthResult {
		t.Helper()
		for _, r := range verifier.Data(txn(), msg).AuthResults {
			if r.Method == "arc" {
				return r
			}
		}
		t.Fatalf("no arc result for\n%s", msg)
		return sdk.AuthResult{}
	}
	run := func(args ...string) ([]byte, error) {
		t.Helper()
		cmd := exec.Command(python, append([]string{scriptPath(t, "arc.py")}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return append(out, stderr.Bytes()...), err
		}
		return out, nil
	}
	file := func(msg []byte) string {
		f, err := os.CreateTemp(dir, "msg-*.eml")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(msg); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	pyVerify := func(msg []byte) (bool, string) {
		t.Helper()
		out, err := run("verify", file(msg), keyFile)
		if !bytes.Contains(out, []byte("arc verify: ")) {
			t.Fatalf("arc.py did not run: %v\n%s", err, out)
		}
		return err == nil, string(out)
	}
	pySeal := func(msg []byte, arc string) []byte {
		t.Helper()
		// dkimpy takes the results, and cv= from their arc=, from the
		// Authentication-Results of its own authserv-id.
		withAR := append([]byte("Authentication-Results: py.list.example; spf=pass smtp.mailfrom=alice@example.org"+arc+"\r\n"), msg...)
		out, err := run("seal", file(withAR), keyFile, pyKey, "list.example", "py", "py.list.example")
		if err != nil {
			t.Fatalf("dkimpy did not seal: %v\n%s", err, out)
		}
		return out
	}

	one := seal(message("alice@example.org", "forwarded"))
	if ok, out := pyVerify(one); !ok {
		t.Fatalf("dkimpy does not verify Sluice's i=1 seal: %s\n%s", out, one)
	}
	two := pySeal(one, "; arc=pass")
	if r := ourVerdict(two); r.Result != "pass" {
		t.Fatalf("Sluice on dkimpy's i=2: %+v\n%s", r, two)
	}
	three := seal(two)
	if !bytes.Contains(three, []byte("ARC-Seal: i=3; cv=pass;")) {
		t.Fatalf("Sluice's i=3 seal is not cv=pass:\n%s", three)
	}
	if ok, out := pyVerify(three); !ok {
		t.Fatalf("dkimpy does not verify Sluice's i=3 seal over its own: %s\n%s", out, three)
	}

	started := pySeal(message("alice@example.org", "started by dkimpy"), "")
	if r := ourVerdict(started); r.Result != "pass" || r.Props["header.oldest-pass"] != "0" {
		t.Fatalf("Sluice on dkimpy's i=1: %+v\n%s", r, started)
	}
	for name, msg := range map[string][]byte{"dkimpy's i=1": started, "the three-set chain": three} {
		tampered := bytes.Replace(msg, []byte("this is the body."), []byte("this is another body."), 1)
		if bytes.Equal(tampered, msg) {
			t.Fatalf("%s: nothing tampered", name)
		}
		if r := ourVerdict(tampered); r.Result != "fail" || !strings.Contains(r.Reason, "body hash") {
			t.Errorf("%s, body changed: Sluice says %+v, want fail on the body hash", name, r)
		}
		if ok, out := pyVerify(tampered); ok {
			t.Errorf("%s, body changed: dkimpy says %s", name, out)
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
