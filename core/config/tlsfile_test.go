package config

import (
	"os"
	"path/filepath"
	"testing"
)

// A listener's missing tls_cert or tls_key is named by its listener and
// key, as written and as resolved against the config file's directory,
// with the reason alone: not "stat PATH: ...", which says neither which
// key nor which listener.
func TestMissingTLSFileMessage(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "f.toml")
	for _, tc := range []struct{ cert, key, want string }{
		{"nocert.pem", "key.pem", cfg + `:5: listener mx: tls_cert "nocert.pem" (` + filepath.Join(dir, "nocert.pem") + "): no such file or directory"},
		{cert, "/nonexistent/key.pem", cfg + `:6: listener mx: tls_key "/nonexistent/key.pem": no such file or directory`},
	} {
		src := "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n" +
			"tls_cert = \"" + tc.cert + "\"\ntls_key = \"" + tc.key + "\"\n"
		_, err := Parse(cfg, []byte(src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("got  %v\nwant %s", err, tc.want)
		}
	}
}
