package config

import (
	"strings"
	"testing"
)

// A file saved with a UTF-8 byte order mark (Windows Notepad) parses as
// the same file without one, and its errors keep their lines; it was
// refused at line 1 with "invalid character at start of key: U+00EF".
func TestByteOrderMark(t *testing.T) {
	const bom = "\ufeff"
	c, err := Parse("f.toml", []byte(bom+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.org" {
		t.Fatalf("hostname %q", c.Hostname)
	}
	for _, tc := range []struct{ src, want string }{
		{bom + minimal + "[delivery]\nport = \"25\"\n", "f.toml:5: delivery.port: want an integer, not a string"},
		{bom + "bogus = 1\n" + minimal, "f.toml:1: unknown key bogus"},
		// Only at the start: elsewhere it is a character like any other.
		{minimal + bom + "x = 1\n", "f.toml:4: "},
	} {
		if _, err := Parse("f.toml", []byte(tc.src)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// CRLF line ends parse, and errors count lines as with LF.
func TestCRLF(t *testing.T) {
	src := strings.ReplaceAll(minimal+"[delivery]\nport = 25\nretry = [\"5m\"]\nmax_age = 5\n", "\n", "\r\n")
	if _, err := Parse("f.toml", []byte(src)); err == nil || !strings.HasPrefix(err.Error(), "f.toml:7: delivery.max_age: ") {
		t.Fatalf("got %v", err)
	}
	if _, err := Parse("f.toml", []byte(strings.ReplaceAll(minimal, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
}
