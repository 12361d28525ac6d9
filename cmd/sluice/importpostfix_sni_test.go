package main

import (
	"strings"
	"testing"
)

// tls_server_sni_maps is listed as not carried over, pointing at
// tls_certs: its map holds lists of key and certificate files, which the
// import does not read.
func TestImportPostfixSNIMaps(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\ntls_server_sni_maps = hash:/etc/postfix/sni\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	want := "#   tls_server_sni_maps = hash:/etc/postfix/sni\n#       a listener's tls_certs, { cert, key } pairs"
	if !strings.Contains(out, want) {
		t.Errorf("draft lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "tls_certs =") {
		t.Errorf("draft sets tls_certs:\n%s", out)
	}
}
