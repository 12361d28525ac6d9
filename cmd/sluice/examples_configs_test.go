package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// The configs in examples/configs pass check-config — which starts every
// plugin stage with its [stage.config] and loads certificates, users and
// keys — once the files they name exist: the operator's paths under
// /etc/sluice and /var/lib/sluice are put in a temporary directory, the
// example plugins are built, and the TLS certificate, the users file and
// the DKIM key are made the way the configs' comments say.
func TestExampleConfigsCheck(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples/configs/*.toml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	etc := t.TempDir()
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "smtp.example.org"))
	if code, _, e := runStdin("s3cret pass\n", "user", "add", "alice@example.org", "-f", filepath.Join(etc, "users")); code != 0 {
		t.Fatalf("user add: %s", e)
	}
	if code, _, e := runErr("dkim", "keygen", "-d", "example.org", "-s", "s1", "-o", filepath.Join(etc, "dkim")); code != 0 {
		t.Fatalf("dkim keygen: %s", e)
	}
	if err := os.WriteFile(filepath.Join(etc, "smarthost.auth"), []byte("relayuser:relay pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := map[string]string{}
	for _, e := range []string{"rcpt-allowlist", "subject-tag", "autoreply"} {
		bin[e] = testlib.Build(t, "./examples/"+e)
	}
	python := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf").Run() == nil
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := string(src)
			if strings.Contains(s, "python-plugin") && !python {
				t.Skip("/usr/bin/python3 cannot import grpc: apt-get install python3-grpcio python3-protobuf")
			}
			s = strings.NewReplacer(
				"/etc/sluice/tls/fullchain.pem", cert,
				"/etc/sluice/tls/privkey.pem", key,
				"/etc/sluice/", etc+"/",
				"/var/lib/sluice", filepath.Join(t.TempDir(), "data"),
				"../../bin/rcpt-allowlist", bin["rcpt-allowlist"],
				"../../bin/subject-tag", bin["subject-tag"],
				"../../bin/autoreply", bin["autoreply"],
				"../python-plugin/", filepath.Join(root, "examples/python-plugin")+"/",
			).Replace(s)
			path := filepath.Join(t.TempDir(), filepath.Base(f))
			if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 0 {
				t.Fatalf("check-config: exit %d: %s", code, e.String())
			}
			c, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			// Without [admin] there is no admin API, and sluice queue,
			// trace and reload -c FILE have nothing to talk to.
			if c.Admin.Listen == "" {
				t.Errorf("no [admin] listen: the queue commands cannot reach a daemon run on this config")
			}
			// A submission port wants AUTH (RFC 6409 §4.3), which only a
			// relay written as an smtp: route with an authfile gives.
			if r := c.Delivery.Relay; strings.Contains(r, ":587") && !strings.Contains(r, "authfile=") {
				t.Errorf("[delivery] relay %q is a submission port, which refuses mail without AUTH", c.Delivery.Relay)
			}
			// The resolved pipeline lists every stage, in the file's order.
			at := 0
			for _, line := range strings.Split(s, "\n") {
				name, ok := strings.CutPrefix(strings.TrimSpace(line), "name")
				if !ok || !strings.Contains(s[:strings.Index(s, line)], "[[stage]]") {
					continue
				}
				name = strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "=")), `"`)
				if name, _, _ = strings.Cut(name, `"`); name == "" {
					continue
				}
				i := strings.Index(o.String()[at:], name)
				if i < 0 {
					t.Fatalf("stage %q missing or out of order in:\n%s", name, o.String())
				}
				at += i + len(name)
			}
		})
	}
}
