package delivery

import "testing"

// TestCRLFMessage: every line of a plugin's message ends in CRLF, the
// last one too, and the plugin's bytes are never written: not in place,
// nor in the spare capacity past them when only the final CRLF is added.
func TestCRLFMessage(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "\r\n",
		"a":                      "a\r\n",
		"a\r\n":                  "a\r\n",
		"a\nb":                   "a\r\nb\r\n",
		"a\rb\r":                 "a\r\nb\r\n",
		"From: x\n\nbody\r\n.\r": "From: x\r\n\r\nbody\r\n.\r\n",
		"\r\r\n\n":               "\r\n\r\n\r\n",
	} {
		buf := make([]byte, len(in), len(in)+8)
		copy(buf, in)
		spare := buf[:cap(buf)]
		for i := len(in); i < len(spare); i++ {
			spare[i] = 'z'
		}
		if got := string(crlfMessage(buf)); got != want {
			t.Errorf("crlfMessage(%q) = %q, want %q", in, got, want)
		}
		if string(buf) != in {
			t.Errorf("crlfMessage(%q) wrote the input: %q", in, buf)
		}
		for i := len(in); i < len(spare); i++ {
			if spare[i] != 'z' {
				t.Fatalf("crlfMessage(%q) wrote past the input: %q", in, spare)
			}
		}
	}
}
