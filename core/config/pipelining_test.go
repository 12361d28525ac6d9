package config

import (
	"path/filepath"
	"testing"
)

// forbid_unauth_pipelining is on when left out, as Postfix 3.9's
// smtpd_forbid_unauth_pipelining; the top-level key is every listener's,
// a listener's own replaces it, and a value that is not a boolean is
// refused at its line.
func TestForbidUnauthPipelining(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const (
		mx  = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
		mx2 = "[[listener]]\nname = \"mx2\"\nlisten = \"127.0.0.1:2526\"\n"
	)
	head := "hostname = \"mx.example.org\"\n"
	for src, want := range map[string][2]bool{
		head + mx + mx2: {true, true},
		head + "forbid_unauth_pipelining = false\n" + mx + mx2:                                       {false, false},
		head + "forbid_unauth_pipelining = false\n" + mx + mx2 + "forbid_unauth_pipelining = true\n": {false, true},
		head + mx + "forbid_unauth_pipelining = false\n" + mx2:                                       {false, true},
	} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		for i, l := range c.Listeners {
			if got := l.ForbidsUnauthPipelining(); got != want[i] {
				t.Errorf("%q: listener %s forbids: %v, want %v", src, l.Name, got, want[i])
			}
		}
	}
	if !(Listener{}).ForbidsUnauthPipelining() {
		t.Error("a listener built by hand does not forbid")
	}
	_, err := Parse(cfg, []byte(head+mx+"forbid_unauth_pipelining = \"yes\"\n"))
	if want := cfg + ":5: listener.forbid_unauth_pipelining: want true or false, not a string"; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
