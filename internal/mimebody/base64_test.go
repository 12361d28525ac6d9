package mimebody

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestBase64: 76-character lines (RFC 2045 §6.8), every one ending in
// CRLF, that decode back to the data; a line of exactly 76 is not
// followed by an empty one.
func TestBase64(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 1000} {
		data := bytes.Repeat([]byte{0xfb, 0x01, 0x7f}, n)[:n]
		got := Base64(data)
		if !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("%d bytes: no CRLF at the end: %q", n, got)
		}
		lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
		for i, l := range lines {
			if len(l) > 76 || i < len(lines)-1 && len(l) != 76 || n > 0 && l == "" {
				t.Fatalf("%d bytes: line %d of %d characters: %q", n, i, len(l), got)
			}
		}
		dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(got, "\r\n", ""))
		if err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("%d bytes: decodes to %x, %v", n, dec, err)
		}
	}
	if got := Base64(make([]byte, 57)); got != strings.Repeat("A", 76)+"\r\n" {
		t.Fatalf("57 bytes: %q", got)
	}
}
