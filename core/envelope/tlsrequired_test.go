package envelope

import (
	"runtime"
	"strings"
	"testing"
)

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
		{"TLS-Required: No, thanks\r\n\r\n", false},
		{"TLS-Required: N o\r\n\r\n", false},           // two words, not No
		{"TLS-Required: N(a comment)o\r\n\r\n", false}, // a comment separates words
		{"TLS-Required: No (x) No\r\n\r\n", false},
		{"TLS-Required:(c)No(d)\r\n\r\n", true},
		{"TLS-Required: No\r\nSubject: x\r\ntls-required: no\r\n\r\n", true},
		{"TLS-Required: No\r\nSubject: x\r\n TLS-Required: Yes\r\n\r\n", true}, // a fold of Subject
		{"TLS-Required: No\r\n\r\nTLS-Required: Yes\r\n", true},                // the body's is not a field
		{"TLS-Required:\r\n", false},
		{"TLS-Required: No", true}, // no line end: the header ends with the message
		// An attached message's header is in the body (RFC 2046 §5.2.1).
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nTLS-Required: No\r\n\r\nx\r\n--b--\r\n", false},
	} {
		if got := TLSRequiredNo([]byte(tc.msg)); got != tc.want {
			t.Errorf("TLSRequiredNo(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// A header of many folded lines is read in time and memory linear in its
// size: unfolding each field into a string that grew line by line copied
// a 100 KB header's field some 25,000 times (over a gigabyte, 0.3 s of
// CPU for every message received, quadratic beyond max_header_size).
func TestTLSRequiredNoLinear(t *testing.T) {
	for _, msg := range []string{
		"X-Big: a\r\n" + strings.Repeat(" b\r\n", 25_000) + "TLS-Required: No\r\n\r\nbody\r\n",
		"TLS-Required: No\r\n" + strings.Repeat(" (b)\r\n", 25_000) + "\r\nbody\r\n",
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := TLSRequiredNo([]byte(msg))
		runtime.ReadMemStats(&after)
		if !got {
			t.Errorf("TLSRequiredNo = false, want true")
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10*uint64(len(msg)) {
			t.Errorf("%d bytes allocated for a %d-byte header", alloc, len(msg))
		}
	}
}
