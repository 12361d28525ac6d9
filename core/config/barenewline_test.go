package config

import (
	"path/filepath"
	"testing"
)

// bare_newline is "normalize" when left out, as Postfix 3.9's
// smtpd_forbid_bare_newline; the top-level key is every listener's, a
// listener's own replaces it, and any other value, "" written included,
// is refused at its line.
func TestBareNewline(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const (
		mx  = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
		mx2 = "[[listener]]\nname = \"mx2\"\nlisten = \"127.0.0.1:2526\"\n"
	)
	head := "hostname = \"mx.example.org\"\n"
	for src, want := range map[string][2]bool{
		head + mx + mx2: {false, false},
		head + "bare_newline = \"reject\"\n" + mx + mx2:                                    {true, true},
		head + "bare_newline = \"normalize\"\n" + mx + mx2:                                 {false, false},
		head + "bare_newline = \"reject\"\n" + mx + mx2 + "bare_newline = \"normalize\"\n": {true, false},
		head + mx + "bare_newline = \"reject\"\n" + mx2:                                    {true, false},
	} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		for i, l := range c.Listeners {
			if got := l.RejectsBareNewline(); got != want[i] {
				t.Errorf("%q: listener %s rejects: %v, want %v", src, l.Name, got, want[i])
			}
		}
	}
	if (Listener{}).RejectsBareNewline() {
		t.Error("a listener built by hand rejects")
	}
	for src, want := range map[string]string{
		head + "bare_newline = \"yes\"\n" + mx:    cfg + `:2: bare_newline = "yes": want "normalize" or "reject"`,
		head + "bare_newline = \"\"\n" + mx:       cfg + `:2: bare_newline = "": want "normalize" or "reject"`,
		head + mx + "bare_newline = \"Reject\"\n": cfg + `:5: bare_newline = "Reject": want "normalize" or "reject"`,
		head + mx + "bare_newline = true\n":       cfg + ":5: listener.bare_newline: want a string, not a boolean",
	} {
		if _, err := Parse(cfg, []byte(src)); err == nil || err.Error() != want {
			t.Errorf("%q:\ngot  %v\nwant %s", src, err, want)
		}
	}
}
