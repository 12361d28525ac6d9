package config

import (
	"strings"
	"testing"
)

// TestNamesWithoutControlCharacters: a stage's or listener's name with a
// line break (TOML's "\n" escape makes one easy to write) is refused at
// its line. It was accepted, and split check-config's listing and the
// daemon's log lines that name the stage in two.
func TestNamesWithoutControlCharacters(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"stage", minimal + "[[stage]]\nname = \"sp\\nf\"\nplugin = \"spf\"\n",
			`f.toml:5: stage name "sp\nf": no control characters`},
		{"stage tab", minimal + "[[stage]]\nname = \"a\\tb\"\nplugin = \"spf\"\n",
			`f.toml:5: stage name "a\tb": no control characters`},
		{"listener", "hostname = \"mx.example.org\"\n[[listener]]\nname = \"m\\nx\"\nlisten = \"127.0.0.1:2525\"\n",
			`f.toml:3: listener name "m\nx": no control characters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s…", err, tc.want)
			}
		})
	}
	// A name in another script is no control character.
	if _, err := Parse("f.toml", []byte(minimal+"[[stage]]\nname = \"prüfung\"\nplugin = \"spf\"\n")); err != nil {
		t.Fatalf("a non-ASCII name was refused: %v", err)
	}
}
