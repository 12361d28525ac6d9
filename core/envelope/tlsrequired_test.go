package envelope

import "testing"

func TestTLSRequiredNo(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"From: a@example.org\r\nTLS-Required: No\r\n\r\nbody\r\n", true},
		{"tls-required:no\r\n\r\n", true},
		{"TLS-Required : NO (please)\r\n\r\n", true},
		{"TLS-Required:\r\n (a (nested) comment)\r\n\tno \r\n\r\n", true},
		{"Subject: x\nTLS-Required: No\n\n", true},
		{"TLS-Required: Yes\r\n\r\n", false},
		{"TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n", false},
		{"TLS-Required: No thanks\r\n\r\n", false},
		{"X-TLS-Required: No\r\n\r\n", false},
		{"Subject: x\r\n\r\nTLS-Required: No\r\n", false}, // in the body
		{"From: a@example.org\r\n\r\n", false},
	} {
		if got := TLSRequiredNo([]byte(tc.msg)); got != tc.want {
			t.Errorf("TLSRequiredNo(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
