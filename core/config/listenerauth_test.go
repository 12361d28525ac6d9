package config

import (
	"os"
	"path/filepath"
	"testing"
)

// auth = false is an smtp listener's: on a submission or submissions
// listener, which take mail only after AUTH, it is an error at its line.
// Left out, or true, AUTH is as before.
func TestListenerAuthOff(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "f.toml")
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	c, err := Parse(cfg, []byte(head+"auth = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Listeners[0].AuthOff() {
		t.Error("auth = false: AuthOff is false")
	}
	for _, src := range []string{head, head + "auth = true\n"} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if c.Listeners[0].AuthOff() {
			t.Errorf("%q: AuthOff is true", src)
		}
	}
	for _, kind := range []string{"submission", "submissions"} {
		src := head + "kind = \"" + kind + "\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nauth = false\n"
		want := cfg + ":8: a " + kind + " listener takes mail only after AUTH: auth = false would leave it taking none"
		if _, err := Parse(cfg, []byte(src)); err == nil || err.Error() != want {
			t.Errorf("%s: got %v\nwant %s", kind, err, want)
		}
	}
}
