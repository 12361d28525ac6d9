package config

import (
	"strings"
	"testing"
)

// greet_pause_banner is "ESMTP" after the host name when left out or
// true, the text written, or none for false and ""; it wants greet_pause,
// and a text that fits one reply line and cannot break it.
func TestListenerGreetPauseBanner(t *testing.T) {
	listener := func(keys string) string {
		return "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\ngreet_pause = \"3s\"\n" + keys
	}
	for _, tc := range []struct {
		keys, want string
		on         bool
	}{
		{"", "ESMTP", true},
		{"greet_pause_banner = true\n", "ESMTP", true},
		{"greet_pause_banner = \"ESMTP ready\\tsoon\"\n", "ESMTP ready\tsoon", true},
		{"greet_pause_banner = false\n", "", false},
		{"greet_pause_banner = \"\"\n", "", false},
		// Left out or true, it is the greeting's own text, as
		// postscreen_greet_banner's default is $smtpd_banner.
		{"banner = \"ESMTP Sluice\"\n", "ESMTP Sluice", true},
		{"banner = \"ESMTP Sluice\"\ngreet_pause_banner = true\n", "ESMTP Sluice", true},
		{"banner = \"\"\n", "", true},
		{"banner = \"ESMTP Sluice\"\ngreet_pause_banner = \"Hold on\"\n", "Hold on", true},
	} {
		c, err := Parse("f.toml", []byte(listener(tc.keys)))
		if err != nil {
			t.Fatalf("%q: %v", tc.keys, err)
		}
		if got, on := c.Listeners[0].GreetBanner(); got != tc.want || on != tc.on {
			t.Errorf("%q: banner %q, %v; want %q, %v", tc.keys, got, on, tc.want, tc.on)
		}
	}
	long := strings.Repeat("x", maxReplyLine-len("220-mx.example.org \r\n"))
	if _, err := Parse("f.toml", []byte(listener("greet_pause_banner = \""+long+"\"\n"))); err != nil {
		t.Errorf("a banner filling the line: %v", err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"no pause", "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\ngreet_pause_banner = false\n",
			"f.toml:4: greet_pause_banner needs greet_pause"},
		{"number", listener("greet_pause_banner = 5\n"),
			"f.toml:5: greet_pause_banner: want true, false or a string (the text after the host name), not an integer"},
		{"table", listener("greet_pause_banner = { text = \"x\" }\n"), "f.toml:5: greet_pause_banner: want true, false or a string (the text after the host name), not a table"},
		{"line break", listener("greet_pause_banner = \"ESMTP\\r\\n250 ok\"\n"),
			`f.toml:5: greet_pause_banner = "ESMTP\r\n250 ok": want printable ASCII (RFC 5321 §4.2), not '\r'`},
		{"non-ASCII", listener("greet_pause_banner = \"ESMTP café\"\n"), `f.toml:5: greet_pause_banner = "ESMTP café": want printable ASCII`},
		{"too long", listener("greet_pause_banner = \"" + long + "x\"\n"),
			`f.toml:5: greet_pause_banner: the line "220-mx.example.org …" would be 513 bytes, more than the 512 of a reply line (RFC 5321 §4.5.3.1.5)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}
