package config

import (
	"strings"
	"testing"
)

// banner is the greeting's text after the host name ("ESMTP" when left
// out); reject_footer is the top-level one unless a listener has its own,
// "" included.
func TestBannerAndRejectFooter(t *testing.T) {
	src := `hostname = "mx.example.org"
reject_footer = 'For help, mail postmaster@example.org\n(quote $client_address, $localtime)'

[[listener]]
name = "mx"
listen = "127.0.0.1:2525"

[[listener]]
name = "submission"
listen = "127.0.0.1:2587"
banner = "ESMTP Sluice ready"
reject_footer = '\c (see https://example.org/help)'

[[listener]]
name = "quiet"
listen = "127.0.0.1:2588"
banner = ""
reject_footer = ""
`
	c, err := Parse("f.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ greeting, footer string }{
		{"ESMTP", `For help, mail postmaster@example.org\n(quote $client_address, $localtime)`},
		{"ESMTP Sluice ready", `\c (see https://example.org/help)`},
		{"", ""},
	} {
		l := c.Listeners[i]
		if l.Greeting() != want.greeting || l.RejectFooter != want.footer {
			t.Errorf("listener %s: greeting %q, footer %q; want %q, %q", l.Name, l.Greeting(), l.RejectFooter, want.greeting, want.footer)
		}
	}
}

func TestBannerAndRejectFooterErrors(t *testing.T) {
	const head = "hostname = \"mx.example.org\"\n"
	listener := "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	long := strings.Repeat("x", maxReplyLine-len("220 mx.example.org \r\n"))
	if _, err := Parse("f.toml", []byte(head+listener+"banner = \""+long+"\"\n")); err != nil {
		t.Errorf("a banner filling the line: %v", err)
	}
	// The longest footer line: the code, the widest enhanced code and
	// CRLF take 16 bytes; the widest $client_address 39.
	footerFits := "${client_address}" + strings.Repeat("y", maxReplyLine-16-39)
	if _, err := Parse("f.toml", []byte(head+"reject_footer = '"+footerFits+"'\n"+listener)); err != nil {
		t.Errorf("a footer filling the line: %v", err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"banner line break", head + listener + "banner = \"ESMTP\\r\\n250 ok\"\n",
			`f.toml:5: banner = "ESMTP\r\n250 ok": want printable ASCII (RFC 5321 §4.2), not '\r'`},
		{"banner control", head + listener + "banner = \"ESMTP\\u0000\"\n", `f.toml:5: banner = "ESMTP\x00": want printable ASCII`},
		{"banner too long", head + listener + "banner = \"" + long + "x\"\n",
			`f.toml:5: banner: the line "220 mx.example.org …" would be 513 bytes, more than the 512 of a reply line (RFC 5321 §4.5.3.1.5)`},
		{"unknown macro", head + "reject_footer = 'from $sender'\n" + listener,
			"f.toml:2: reject_footer: unknown macro $sender: want $client_address, $client_port, $localtime, $hostname (or $myhostname), $listener, and $$ for a dollar sign"},
		{"unknown macro in a listener", head + listener + "reject_footer = 'call ${server_name}'\n",
			"f.toml:5: reject_footer: unknown macro $server_name"},
		{"lone dollar", head + listener + "reject_footer = 'costs $ 5'\n", "f.toml:5: reject_footer: a lone $: write $$ for a dollar sign"},
		{"footer CR", head + "reject_footer = \"help\\rhere\"\n" + listener, `f.toml:2: reject_footer: "help\rhere": want printable ASCII`},
		{"footer too long", head + "reject_footer = '" + footerFits + "x'\n" + listener,
			`f.toml:2: reject_footer: a line of it may take 513 bytes in listener "mx"'s replies (its macros at their widest), more than the 512 of a reply line (RFC 5321 §4.5.3.1.5)`},
		{"listener footer too long", head + listener + "reject_footer = '" + footerFits + "$listener'\n",
			`f.toml:5: reject_footer: a line of it may take 514 bytes in listener "mx"'s replies`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}
