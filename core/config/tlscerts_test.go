package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// tls_certs: more certificate pairs on a listener, chosen by SNI, with
// tls_cert as the one for every other client. Each pair is written as an
// inline table or as [[listener.tls_certs]], needs cert and key, and
// names files that exist; the list needs tls_cert. A mistake is reported
// at the line of the pair, or of its key.
func TestListenerTLSCerts(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"c.pem", "k.pem", "a.pem", "a.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "f.toml")
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	const dflt = "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"

	good := map[string]string{
		"inline": head + dflt + "tls_certs = [\n  { cert = \"a.pem\", key = \"a.key\" },\n  { cert = \"c.pem\", key = \"k.pem\" },\n]\n",
		"array of tables": head + dflt + "[[listener.tls_certs]]\ncert = \"a.pem\"\nkey = \"a.key\"\n" +
			"[[listener.tls_certs]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
	}
	for name, src := range good {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := []CertPair{{"a.pem", "a.key"}, {"c.pem", "k.pem"}}
		if got := c.Listeners[0].TLSCerts; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: tls_certs %+v, want %+v", name, got, want)
		}
	}

	for _, tc := range []struct{ name, src, want string }{
		{"no tls_cert", head + "tls_certs = [{ cert = \"a.pem\", key = \"a.key\" }]\n",
			cfg + ":5: tls_certs needs tls_cert and tls_key, the certificate for a client that sends no SNI or names none of tls_certs"},
		{"no key", head + dflt + "tls_certs = [\n  { cert = \"a.pem\", key = \"a.key\" },\n  { cert = \"c.pem\" },\n]\n",
			cfg + `:9: listener mx: each tls_certs entry needs cert and key: { cert = "cert.pem", key = "key.pem" }`},
		{"no cert, array of tables", head + dflt + "[[listener.tls_certs]]\nkey = \"a.key\"\n",
			cfg + `:7: listener mx: each tls_certs entry needs cert and key: { cert = "cert.pem", key = "key.pem" }`},
		{"missing cert file", head + dflt + "tls_certs = [\n  { cert = \"a.pem\", key = \"a.key\" },\n  { cert = \"b.pem\", key = \"a.key\" },\n]\n",
			cfg + `:9: listener mx: tls_certs cert "b.pem" (` + filepath.Join(dir, "b.pem") + "): no such file or directory"},
		{"missing key file", head + dflt + "[[listener.tls_certs]]\ncert = \"a.pem\"\nkey = \"/nonexistent/b.key\"\n",
			cfg + `:9: listener mx: tls_certs key "/nonexistent/b.key": no such file or directory`},
		{"unknown key", head + dflt + "tls_certs = [\n  { cert = \"a.pem\", kye = \"a.key\" },\n]\n",
			cfg + ":8: unknown key listener.tls_certs.kye"},
		{"not a table", head + dflt + "tls_certs = [\"a.pem\"]\n", cfg + ":7: listener.tls_certs: want a table, not a string"},
	} {
		_, err := Parse(cfg, []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.name, err, tc.want)
		}
	}
}
