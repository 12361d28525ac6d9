package config

import (
	"strings"
	"testing"
)

// [delivery] tls_required_header is true unless written false; a value
// that is not a boolean is refused naming the key.
func TestTLSRequiredHeader(t *testing.T) {
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	for src, want := range map[string]bool{
		head: true,
		head + "[delivery]\ntls_required_header = true\n":  true,
		head + "[delivery]\ntls_required_header = false\n": false,
	} {
		c, err := Parse("f.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if c.Delivery.TLSRequiredHeader != want {
			t.Errorf("%q: TLSRequiredHeader %v, want %v", src, c.Delivery.TLSRequiredHeader, want)
		}
	}
	_, err := Parse("f.toml", []byte(head+"[delivery]\ntls_required_header = \"no\"\n"))
	if err == nil || !strings.Contains(err.Error(), "f.toml:6") || !strings.Contains(err.Error(), "tls_required_header") {
		t.Fatalf("string value: %v", err)
	}
}
