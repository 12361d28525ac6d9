package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// smtp_fallback_relay (or fallback_relay, its older name and default)
// becomes [delivery] fallback_relay, the hops in order, each with
// smtp_tls_security_level's tls= as Postfix applies it; the relayhost
// itself, a hop written twice or one Sluice cannot dial is left out and
// listed.
func TestImportPostfixFallbackRelay(t *testing.T) {
	for _, c := range []struct {
		main   string
		want   []string
		listed []string
		bare   bool
	}{
		{main: "smtp_fallback_relay = [backup.example.net]:2525, backup2.example.net\n",
			want: []string{"[backup.example.net]:2525", "backup2.example.net"}, bare: true},
		{main: "fallback_relay = [backup.example.net]\n", want: []string{"[backup.example.net]"}},
		{main: "fallback_relay = [old.example.net]\nsmtp_fallback_relay = [backup.example.net]\n",
			want: []string{"[backup.example.net]"}, listed: []string{"fallback_relay"}},
		{main: "smtp_tls_security_level = encrypt\nsmtp_fallback_relay = [backup.example.net]\n",
			want: []string{"smtp:[backup.example.net]?tls=required"}},
		{main: "relayhost = [smart.example.net]\nsmtp_fallback_relay = [smart.example.net]:25 [backup.example.net] [Backup.example.net]:25 bad!host\n",
			want: []string{"[backup.example.net]"}, listed: []string{"smtp_fallback_relay", "smtp_fallback_relay", "smtp_fallback_relay"}},
		{main: "smtp_fallback_relay =\n"},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("%q: core/config refuses the output: %v\n%s", c.main, err, out)
		}
		if got := cfg.Delivery.FallbackRelay; !slices.Equal(got, c.want) {
			t.Errorf("%q: fallback_relay %q, want %q\n%s", c.main, got, c.want, out)
		}
		var listed []string
		for _, n := range notCarried(t, out) {
			if strings.Contains(n, "fallback_relay") {
				listed = append(listed, n)
			}
		}
		if !slices.Equal(listed, c.listed) {
			t.Errorf("%q: listed %q, want %q\n%s", c.main, listed, c.listed, out)
		}
		if bare := strings.Contains(out, "Sluice dials its own addresses)"); c.want != nil && bare != c.bare {
			t.Errorf("%q: note on MX look-ups %v, want %v\n%s", c.main, bare, c.bare, out)
		}
	}
}

// A backup MX's relay transport turns the fallback off with -o
// smtp_fallback_relay= (postconf(5)'s advice against loops): a route
// rule's mail never falls back in Sluice, so it is carried as it is; a
// fallback of its own is listed; lmtp_fallback_relay has no counterpart.
func TestImportPostfixFallbackRelayPerTransport(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the route plugin: this test binary as sluice
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\ntransport_maps = hash:/etc/postfix/transport\nsmtp_fallback_relay = [backup.example.net]\nlmtp_fallback_relay = [lmtp2.example.net]\n",
		"master.cf": "smtp inet n - y - - smtpd\nrelay unix - - y - - smtp\n  -o smtp_fallback_relay=\n" +
			"other unix - - y - - smtp\n  -o smtp_fallback_relay=[elsewhere.example.net]\n",
		"transport": "backup.example relay:[primary.backup.example]\nother.example other:[mx.other.example]\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	listed := " " + strings.Join(notCarried(t, out), " ") + " "
	if strings.Contains(listed, "relay -o smtp_fallback_relay= ") {
		t.Errorf("the relay transport's -o smtp_fallback_relay= is listed:\n%s", out)
	}
	if !strings.Contains(out, "other -o smtp_fallback_relay=[elsewhere.example.net]\n#       none per route") {
		t.Errorf("the other transport's own fallback relay is not listed with why:\n%s", out)
	}
	if !strings.Contains(out, "lmtp_fallback_relay = [lmtp2.example.net]\n#       none: an lmtp: route has no fallback relay") {
		t.Errorf("lmtp_fallback_relay not listed with why:\n%s", out)
	}
}
