package filter

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzDecodeBase64 holds the filter's lenient base64 decoder to its
// bound and to the standard decoder: never more than limit bytes out;
// what a limit lets out is the start of what the whole body decodes to
// (the body rules see a prefix, not other bytes); and data encoded as
// RFC 2045 §6.8 writes it (76-character lines, CRLF) decodes back as it
// was, with junk outside the alphabet anywhere ignored.
func FuzzDecodeBase64(f *testing.F) {
	f.Add([]byte("aGVsbG8gd29ybGQ=\r\n"), []byte("hello world"), 5)
	f.Add([]byte("aGk=aGk=\r\n!.\r\nYQ"), []byte{0, 0xff, '\r', '\n'}, 1)
	f.Add([]byte("====A===BB==CCC=DDDD"), []byte(strings.Repeat("x", 200)), 100)
	f.Add([]byte("Q"), []byte{}, 0)
	f.Fuzz(func(t *testing.T, body, data []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		whole := decodeBase64(body, len(body))
		got := decodeBase64(body, limit)
		if len(got) > limit {
			t.Fatalf("decodeBase64(%q, %d) gave %d bytes", body, limit, len(got))
		}
		if !bytes.HasPrefix(whole, got) {
			t.Fatalf("decodeBase64(%q, %d) = %q, not a prefix of the whole %q", body, limit, got, whole)
		}

		enc := base64.StdEncoding.EncodeToString(data)
		var b strings.Builder
		for i := 0; i < len(enc); i += 76 {
			b.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
		}
		// Junk from the fuzzer's body, with the alphabet and "=" taken out.
		junk := strings.Map(func(r rune) rune {
			if strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", r) {
				return -1
			}
			return r
		}, string(body))
		in := junk + b.String() + junk
		if got := decodeBase64([]byte(in), len(data)); !bytes.Equal(got, data) {
			t.Fatalf("decodeBase64(%q) = %q, want %q", in, got, data)
		}
		want := data[:min(len(data), limit)]
		if got := decodeBase64([]byte(in), limit); !bytes.Equal(got, want) {
			t.Fatalf("decodeBase64(%q, %d) = %q, want %q", in, limit, got, want)
		}
	})
}
