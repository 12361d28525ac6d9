package config

import (
	"path/filepath"
	"strings"
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

// bare_newline_reject_code and bare_newline_exclusions, Postfix's
// smtpd_forbid_bare_newline_reject_code and _exclusions: left out, 550
// and relay_networks (nil); the top-level keys are every listener's, a
// listener's own replaces them, an empty list (no client spared)
// included. A code that is not 5xx, or a 0 written, is refused at its
// line; an exclusion that is no network too.
func TestBareNewlineRejectCodeAndExclusions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const (
		head = "hostname = \"mx.example.org\"\n"
		mx   = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
		mx2  = "[[listener]]\nname = \"mx2\"\nlisten = \"127.0.0.1:2526\"\n"
	)
	type want struct {
		code int
		excl string // "nil", or the prefixes joined
	}
	show := func(p *[]Prefix) string {
		if p == nil {
			return "nil"
		}
		s := "["
		for i, n := range *p {
			if i > 0 {
				s += " "
			}
			s += n.String()
		}
		return s + "]"
	}
	for src, w := range map[string][2]want{
		head + mx + mx2: {{550, "nil"}, {550, "nil"}},
		head + "bare_newline_reject_code = 521\nbare_newline_exclusions = [\"192.0.2.0/24\", \"2001:db8::1\"]\n" + mx + mx2: {
			{521, "[192.0.2.0/24 2001:db8::1/128]"}, {521, "[192.0.2.0/24 2001:db8::1/128]"}},
		head + "bare_newline_reject_code = 521\nbare_newline_exclusions = [\"192.0.2.0/24\"]\n" + mx + mx2 + "bare_newline_reject_code = 554\nbare_newline_exclusions = []\n": {
			{521, "[192.0.2.0/24]"}, {554, "[]"}},
		head + mx + "bare_newline_reject_code = 521\n" + mx2: {{521, "nil"}, {550, "nil"}},
	} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		for i, l := range c.Listeners {
			if got := (want{l.BareNewlineCode(), show(l.BareNewlineExclusions)}); got != w[i] {
				t.Errorf("%q: listener %s: %+v, want %+v", src, l.Name, got, w[i])
			}
		}
	}
	if (Listener{}).BareNewlineCode() != 550 {
		t.Error("a listener built by hand refuses with another code than 550")
	}
	for src, want := range map[string]string{
		head + "bare_newline_reject_code = 450\n" + mx: cfg + ":2: bare_newline_reject_code = 450: want a 5xx code: 550 (the default), or 521 to close the connection after it",
		head + "bare_newline_reject_code = 0\n" + mx:   cfg + ":2: bare_newline_reject_code = 0: want a 5xx code: 550 (the default), or 521 to close the connection after it",
		head + mx + "bare_newline_reject_code = 600\n": cfg + ":5: bare_newline_reject_code = 600: want a 5xx code: 550 (the default), or 521 to close the connection after it",
	} {
		if _, err := Parse(cfg, []byte(src)); err == nil || err.Error() != want {
			t.Errorf("%q:\ngot  %v\nwant %s", src, err, want)
		}
	}
	if _, err := Parse(cfg, []byte(head+mx+"bare_newline_exclusions = [\"mail.example.org\"]\n")); err == nil || !strings.Contains(err.Error(), `bad network "mail.example.org"`) {
		t.Errorf("a host name in bare_newline_exclusions: %v", err)
	}
}
