package config

import (
	"os"
	"path/filepath"
	"testing"
)

// tls_required needs a certificate to offer STARTTLS with, and means
// nothing on a submissions listener (TLS from the first byte): both are
// errors at the key's line. With a certificate, on smtp and submission,
// it is taken.
func TestTLSRequired(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "f.toml")
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	const certs = "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"
	for _, tc := range []struct{ src, want string }{
		{head + "tls_required = true\n", cfg + ":5: tls_required needs tls_cert and tls_key, to offer STARTTLS"},
		{head + "kind = \"submissions\"\n" + certs + "tls_required = true\n", cfg + ":8: a submissions listener is TLS from the first byte: tls_required has nothing to require"},
	} {
		_, err := Parse(cfg, []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("got  %v\nwant %s", err, tc.want)
		}
	}
	for _, kind := range []string{"smtp", "submission"} {
		c, err := Parse(cfg, []byte(head+"kind = \""+kind+"\"\n"+certs+"tls_required = true\n"))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !c.Listeners[0].TLSRequired {
			t.Errorf("%s: tls_required not set", kind)
		}
	}
}
