package config

import (
	"path/filepath"
	"testing"
)

// The addresses Sluice dials, [delivery] relay and [dns] servers, are
// checked as listen addresses are: a numeric port from 1 to 65535 and a
// real host, with the line; not only split at the colon.
func TestDialAddresses(t *testing.T) {
	relay := func(a string) string { return minimal + "[delivery]\nrelay = \"" + a + "\"\n" }
	dns := func(a string) string { return minimal + "[dns]\nservers = [\"127.0.0.1:53\", \"" + a + "\"]\n" }
	for _, tc := range []struct{ src, want string }{
		{relay("127.0.0.1:abc"), `f.toml:5: bad relay "127.0.0.1:abc": port "abc" must be a number from 1 to 65535`},
		{relay(":0"), `f.toml:5: bad relay ":0": port "0" must be a number from 1 to 65535`},
		{relay(":70000"), `f.toml:5: bad relay ":70000": port "70000" must be a number from 1 to 65535`},
		{relay(":-5"), `f.toml:5: bad relay ":-5": port "-5" must be a number from 1 to 65535`},
		{relay(":25"), `f.toml:5: bad relay ":25": want a host before the port`},
		{relay("[smarthost"), `f.toml:5: bad relay "[smarthost": "[smarthost" is neither an IP address nor a host name (want host, [host], host:port or [host]:port)`},
		{relay("::1"), `f.toml:5: bad relay "::1": want host:port`},
		{relay("[]"), `f.toml:5: bad relay "[]": "" is neither an IP address nor a host name (want host, [host], host:port or [host]:port)`},
		{dns("127.0.0.1:0"), `f.toml:5: bad DNS server "127.0.0.1:0": port "0" must be a number from 1 to 65535`},
		{dns(":abc"), `f.toml:5: bad DNS server ":abc": port "abc" must be a number from 1 to 65535`},
		{dns(":53"), `f.toml:5: bad DNS server ":53": want a host before the port`},
		{dns("not a host:53"), `f.toml:5: bad DNS server "not a host:53": "not a host" is neither an IP address nor a host name`},
	} {
		_, err := Parse("f.toml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
	// A relay as Postfix's relayhost is written: without a port it is
	// [delivery] port's, as the delivery agent dials it.
	for _, src := range []string{relay("smtp.example.net:587"), relay("[::1]:25"), relay("127.0.0.1:2626"), relay("smarthost"),
		relay("[smtp.example.net]"), relay("[smtp.example.net]:587"), relay("[::1]"), relay("192.0.2.1"), dns("[::1]:53"), dns("localhost:5353"),
		// Container and /etc/hosts names may hold underscores (a Docker
		// Compose service "smart_host"); Go's resolver and Postfix take them.
		relay("exa_mple:25"), relay("smart_host"), relay("[smart_host]:587"), dns("dns_cache:53"),
		minimal + "[auth]\ndovecot_socket = \"inet:mail_dovecot:12345\"\n",
		minimal + "[[stage]]\nname = \"m\"\nmilter = \"inet:open_dkim:8891\"\n"} {
		if _, err := Parse("f.toml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// A milter takes the address forms core/milter dials, Postfix's and
// Sendmail's included; a relative socket path is relative to the config
// file, like every path in it, and is resolved when the file is loaded.
func TestMilterAddressForms(t *testing.T) {
	cfg := filepath.Join("/etc", "sluice", "sluice.toml")
	milter := func(m string) string { return minimal + "[[stage]]\nname = \"m\"\nmilter = \"" + m + "\"\n" }
	for spec, want := range map[string]string{
		"tcp:127.0.0.1:8891":  "tcp:127.0.0.1:8891",
		"inet:8891@127.0.0.1": "inet:8891@127.0.0.1",
		"inet:localhost:8891": "inet:localhost:8891",
		"inet:8891":           "inet:8891", // Postfix's localhost:8891
		"inet6:8891@::1":      "inet6:8891@::1",
		"inet6:8891@[::1]":    "inet6:8891@[::1]",
		"unix:/run/m.sock":    "unix:/run/m.sock",
		"unix:m.sock":         "unix:/etc/sluice/m.sock",
		"local:run/m.sock":    "local:/etc/sluice/run/m.sock",
	} {
		c, err := Parse(cfg, []byte(milter(spec)))
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if got := c.Stages[0].Milter; got != want {
			t.Errorf("%s: got %q, want %q", spec, got, want)
		}
	}
	for spec, want := range map[string]string{
		"inet:127.0.0.1":     `f.toml:6: milter "inet:127.0.0.1" must be inet:PORT@HOST or inet:HOST:PORT: want host:port`,
		"inet:0@127.0.0.1":   `f.toml:6: milter "inet:0@127.0.0.1" must be inet:PORT@HOST or inet:HOST:PORT: port "0" must be a number from 1 to 65535`,
		"inet:8891@":         `f.toml:6: milter "inet:8891@" must be inet:PORT@HOST or inet:HOST:PORT: want a host before the port`,
		"tcp::8891":          `f.toml:6: milter "tcp::8891" must be tcp:HOST:PORT: want a host before the port`,
		"inet6:8891@[::1":    `f.toml:6: milter "inet6:8891@[::1" must be inet6:PORT@HOST or inet6:HOST:PORT: "[::1" has no closing bracket`,
		"local:":             `f.toml:6: milter "local:" must be local:PATH: the path is missing`,
		"udp:127.0.0.1:8891": `f.toml:6: milter "udp:127.0.0.1:8891" must be tcp:HOST:PORT, unix:PATH, inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST or local:PATH`,
	} {
		if _, err := Parse("f.toml", []byte(milter(spec))); err == nil || err.Error() != want {
			t.Errorf("%s: got %v\nwant %s", spec, err, want)
		}
	}
}
