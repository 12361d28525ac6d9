//go:build interop

package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/plugins/dkim"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// keygen runs `sluice dkim keygen` and returns the key file and the line
// for dkimverify.py's key file ("NAME TXT-VALUE"), built from the printed
// zone-file record the way a resolver would join its strings.
func keygen(t *testing.T, dir, domain, selector, kind string) (keyFile, keyLine string) {
	t.Helper()
	out, err := exec.Command(os.Getenv("SLUICE_BIN"), "dkim", "keygen", "-d", domain, "-s", selector, "-t", kind, "-o", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice dkim keygen: %v\n%s", err, out)
	}
	keyFile = filepath.Join(dir, selector+"."+domain+".key")
	var record string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, selector+"._domainkey.") {
			record = l
		}
	}
	if record == "" {
		t.Fatalf("no TXT record printed:\n%s", out)
	}
	var value string
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(record, -1) {
		value += m[1]
	}
	return keyFile, selector + "._domainkey." + domain + " " + value
}

// TestDKIMSignVerifiesWithDkimpy: bin/sluice with a dkim sign stage signs
// relayed mail with keys from `sluice dkim keygen`; Debian's dkimpy, an
// independent implementation, verifies what arrives at the next hop, and
// rejects it once a signed header is changed.
func TestDKIMSignVerifiesWithDkimpy(t *testing.T) {
	if _, err := exec.Command(python, "-c", "import dkim").CombinedOutput(); err != nil {
		t.Fatalf("python3-dkim not installed (make interop installs it): %v", err)
	}
	for _, tc := range []struct {
		name  string
		kinds []string
		canon string
	}{
		{"rsa", []string{"rsa"}, "relaxed/relaxed"},
		{"ed25519", []string{"ed25519"}, "relaxed/relaxed"},
		{"rsa and ed25519, simple", []string{"rsa", "ed25519"}, "simple/simple"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var keys, lines []string
			for i, kind := range tc.kinds {
				sel := fmt.Sprintf("s%d%s", i, kind)
				f, line := keygen(t, dir, "example.org", sel, kind)
				keys = append(keys, fmt.Sprintf("{ domain = %q, selector = %q, key_file = %q }", "example.org", sel, f))
				lines = append(lines, line)
			}
			keyFile := filepath.Join(dir, "keys.txt")
			if err := os.WriteFile(keyFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			stage := fmt.Sprintf("[[stage]]\nname = \"dkim-sign\"\nplugin = \"dkim\"\n[stage.config]\nmode = \"sign\"\ncanonicalization = %q\nkeys = [%s]\n",
				tc.canon, strings.Join(keys, ", "))
			sink := testlib.NewSink(t, "127.0.0.1:0")
			addr, _ := startSluiceWith(t, sink.Addr, stage)
			if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
				message("alice@example.org", "quarterly report", "Cc: <carol@example.net>")); err != nil {
				t.Fatal(err)
			}
			got := sink.WaitN(t, 1, 30*time.Second)[0].Data
			if n := bytes.Count(got, []byte("DKIM-Signature: ")); n != len(tc.kinds) {
				t.Fatalf("%d DKIM-Signature fields, want %d:\n%s", n, len(tc.kinds), got)
			}
			verify := func(msg []byte) (bool, string) {
				f := filepath.Join(t.TempDir(), "msg.eml")
				if err := os.WriteFile(f, msg, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(python, scriptPath(t, "dkimverify.py"), f, keyFile).CombinedOutput()
				if !bytes.Contains(out, []byte("dkim verify: ")) {
					t.Fatalf("dkimverify.py did not run: %v\n%s", err, out)
				}
				return err == nil, string(out)
			}
			if ok, out := verify(got); !ok {
				t.Fatalf("dkimpy does not verify our signature: %s\n%s", out, got)
			}
			tampered := bytes.Replace(got, []byte("Subject: quarterly report"), []byte("Subject: quarterly rep0rt"), 1)
			if ok, out := verify(tampered); ok {
				t.Fatalf("dkimpy verified a changed Subject: %s", out)
			}
		})
	}
}

// TestDKIMVerifyThenDMARC: a verify stage and a dmarc stage in bin/sluice,
// keys and policy served by a loopback DNS server given in [dns]. The
// dmarc stage decides from the dkim stage's structured result alone: a
// message our plugin signed passes and is delivered with both results in
// Authentication-Results; the same message unsigned is refused 550 5.7.1.
func TestDKIMVerifyThenDMARC(t *testing.T) {
	dir := t.TempDir()
	keyFile, record := keygenRecord(t, dir)
	d := testlib.NewDNS(t, record, `_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject"`)
	// The core is to hand [dns] to plugin processes in these variables;
	// until it does, they reach the plugins through the inherited
	// environment.
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	stages := fmt.Sprintf("[dns]\nservers = [%q]\n"+
		"[[stage]]\nname = \"dkim\"\nplugin = \"dkim\"\n[stage.config]\nmode = \"verify\"\n"+
		// The client is on loopback, which dmarc skips by default as the
		// site's own: here it stands for the outside world.
		"[[stage]]\nname = \"dmarc\"\nplugin = \"dmarc\"\n[stage.config]\nskip_networks = []\nskip_relay_clients = false\n", d.Addr)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, sink.Addr, stages)

	raw := message("alice@example.org", "signed report")
	signed := signWith(t, keyFile, raw)
	if _, err := testlib.Send(addr, "alice@other.example", []string{"bob@example.net"}, signed); err != nil {
		t.Fatal(err)
	}
	got := string(sink.WaitN(t, 1, 30*time.Second)[0].Data)
	m, err := sdktest.ParseMessage([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	ar := m.Get("Authentication-Results")
	for _, want := range []string{"mx.sluice.test;", "dkim=pass", "header.d=example.org", "header.s=sel", "dmarc=pass", "header.from=example.org"} {
		if !strings.Contains(ar, want) {
			t.Fatalf("Authentication-Results %q lacks %q:\n%s", ar, want, got)
		}
	}

	_, err = testlib.Send(addr, "alice@other.example", []string{"bob@example.net"}, message("alice@example.org", "forged report"))
	if err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1 ") || !strings.Contains(err.Error(), "DMARC policy of example.org") {
		t.Fatalf("unsigned message with p=reject: %v, want 550 5.7.1", err)
	}
}

// keygenRecord makes an Ed25519 key with `sluice dkim keygen` and returns
// it with the printed TXT record, which must be valid zone-file syntax.
func keygenRecord(t *testing.T, dir string) (keyFile, record string) {
	t.Helper()
	out, err := exec.Command(os.Getenv("SLUICE_BIN"), "dkim", "keygen", "-d", "example.org", "-s", "sel", "-t", "ed25519", "-o", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice dkim keygen: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "sel._domainkey.example.org. IN TXT ") {
			record = l
		}
	}
	return filepath.Join(dir, "sel.example.org.key"), record
}

// signWith signs raw with the dkim plugin run through sdktest, as a sign
// stage would for a local client.
func signWith(t *testing.T, keyFile string, raw []byte) []byte {
	t.Helper()
	cfg := fmt.Sprintf(`{"mode": "sign", "keys": [{"domain": "example.org", "selector": "sel", "key_file": %q}]}`, keyFile)
	h := sdktest.New(t, &dkim.Plugin{}, cfg)
	v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), raw)
	if len(v.Edits) != 1 {
		t.Fatalf("not signed: %s", v.Reason)
	}
	return sdktest.Apply(t, raw, v)
}
