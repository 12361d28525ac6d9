package config

import "testing"

// tls_key without tls_cert is reported at tls_key's line, as tls_cert
// without tls_key is at tls_cert's; it was at the [[listener]] header.
func TestTLSHalfPairLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{minimal + "name = \"mx\"\ntls_key = \"k.pem\"\n", "f.toml:5: tls_cert and tls_key go together"},
		{minimal + "name = \"mx\"\ntls_cert = \"c.pem\"\n", "f.toml:5: tls_cert and tls_key go together"},
	} {
		if _, err := Parse("f.toml", []byte(tc.src)); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
