package sockspec

import "testing"

// Every form, as Parse (a kind required) and ParsePath (a bare path
// allowed) read it: "network address", or the error.
func TestForms(t *testing.T) {
	for _, tc := range []struct{ spec, parse, path string }{
		{"unix:/run/m.sock", "unix /run/m.sock", ""},
		{"unix:m.sock", "unix m.sock", ""},
		{"local:/run/m.sock", "unix /run/m.sock", ""},
		{"tcp:127.0.0.1:8891", "tcp 127.0.0.1:8891", ""},
		{"tcp:[::1]:8891", "tcp [::1]:8891", ""},
		{"tcp:milter.local:8891", "tcp milter.local:8891", ""},
		{"inet:127.0.0.1:8891", "tcp 127.0.0.1:8891", ""},
		{"inet:[::1]:8891", "tcp [::1]:8891", ""},
		{"inet:8891@127.0.0.1", "tcp 127.0.0.1:8891", ""},
		{"inet:8891@localhost", "tcp localhost:8891", ""},
		{"inet6:8891@::1", "tcp [::1]:8891", ""},
		{"inet6:[::1]:8891", "tcp [::1]:8891", ""},
		// Sendmail's and libmilter's IP literal in brackets, as OpenDKIM's
		// manual asks one to be written.
		{"inet:8891@[127.0.0.1]", "tcp 127.0.0.1:8891", ""},
		{"inet6:8891@[::1]", "tcp [::1]:8891", ""},
		{"inet:8891@[milter.example]", "tcp milter.example:8891", ""}, // Sendmail wants a literal; no harm
		// Postfix's inet_connect: no host is localhost (a milter's
		// "inet:8891", smtpd_sasl_path = inet:12345), and an address
		// literal may be [IPv6:…].
		{"inet:8891", "tcp localhost:8891", ""},
		{"inet::8891", "tcp localhost:8891", ""},
		{"inet:[IPv6:::1]:8891", "tcp [::1]:8891", ""},
		{"inet:[ipv6:2001:db8::25]:8891", "tcp [2001:db8::25]:8891", ""},
		// A bare path: only where the setting allows one.
		{"/run/dovecot/auth-client", `"/run/dovecot/auth-client" must be ` + Forms, "unix /run/dovecot/auth-client"},
		{"private/auth", `"private/auth" must be ` + Forms, "unix private/auth"},
		{"unix", `"unix" must be ` + Forms, "unix unix"},
		{"udp:127.0.0.1:8891", `"udp:127.0.0.1:8891" must be ` + Forms, "unix udp:127.0.0.1:8891"},
		{"", `"" must be ` + Forms, `"" must be a socket PATH: the path is missing`},
		// Refused whichever reads it.
		{"unix:", `"unix:" must be unix:PATH: the path is missing`, ""},
		{"local:", `"local:" must be local:PATH: the path is missing`, ""},
		{"unix:/run/m\nsock", `"unix:/run/m\nsock" must be unix:PATH: the path holds a NUL or a line break`, ""},
		{"unix:/run/m\x00", `"unix:/run/m\x00" must be unix:PATH: the path holds a NUL or a line break`, ""},
		{"tcp:127.0.0.1", `"tcp:127.0.0.1" must be tcp:HOST:PORT: want host:port`, ""},
		{"tcp::8891", `"tcp::8891" must be tcp:HOST:PORT: want a host before the port`, ""},
		{"tcp:8891@127.0.0.1", `"tcp:8891@127.0.0.1" must be tcp:HOST:PORT: want host:port`, ""},
		{"tcp:127.0.0.1:0", `"tcp:127.0.0.1:0" must be tcp:HOST:PORT: port "0" must be a number from 1 to 65535`, ""},
		{"tcp:127.0.0.1:65536", `"tcp:127.0.0.1:65536" must be tcp:HOST:PORT: port "65536" must be a number from 1 to 65535`, ""},
		{"tcp:127.0.0.1:+25", `"tcp:127.0.0.1:+25" must be tcp:HOST:PORT: port "+25" must be a number from 1 to 65535`, ""},
		{"inet:127.0.0.1:milter", `"inet:127.0.0.1:milter" must be inet:PORT@HOST or inet:HOST:PORT: port "milter" must be a number from 1 to 65535`, ""},
		{"inet:127.0.0.1", `"inet:127.0.0.1" must be inet:PORT@HOST or inet:HOST:PORT: want host:port`, ""},
		{"inet:", `"inet:" must be inet:PORT@HOST or inet:HOST:PORT: want host:port`, ""},
		{"inet:0", `"inet:0" must be inet:PORT@HOST or inet:HOST:PORT: port "0" must be a number from 1 to 65535`, ""},
		{"inet::milter", `"inet::milter" must be inet:PORT@HOST or inet:HOST:PORT: port "milter" must be a number from 1 to 65535`, ""},
		{"inet:[]:8891", `"inet:[]:8891" must be inet:PORT@HOST or inet:HOST:PORT: want a host before the port`, ""},
		{"inet:::1:8891", `"inet:::1:8891" must be inet:PORT@HOST or inet:HOST:PORT: want host:port`, ""},
		{"inet:[IPv6:127.0.0.1]:8891", `"inet:[IPv6:127.0.0.1]:8891" must be inet:PORT@HOST or inet:HOST:PORT: "127.0.0.1" is not an IPv6 address`, ""},
		{"inet:[IPv6:::1", `"inet:[IPv6:::1" must be inet:PORT@HOST or inet:HOST:PORT: "[IPv6:::1" has no closing bracket`, ""},
		{"tcp:8891", `"tcp:8891" must be tcp:HOST:PORT: want host:port`, ""}, // Sluice's own form wants its host
		// Postfix compares kinds as written (strcmp): no INET:, no Unix:.
		{"INET:127.0.0.1:8891", `"INET:127.0.0.1:8891" must be ` + Forms, "unix INET:127.0.0.1:8891"},
		{"Unix:/run/m.sock", `"Unix:/run/m.sock" must be ` + Forms, "unix Unix:/run/m.sock"},
		{"inet:8891@", `"inet:8891@" must be inet:PORT@HOST or inet:HOST:PORT: want a host before the port`, ""},
		{"inet:0@127.0.0.1", `"inet:0@127.0.0.1" must be inet:PORT@HOST or inet:HOST:PORT: port "0" must be a number from 1 to 65535`, ""},
		{"inet6:8891", `"inet6:8891" must be inet6:PORT@HOST or inet6:HOST:PORT: want host:port`, ""},
		{"inet6:8891@[::1", `"inet6:8891@[::1" must be inet6:PORT@HOST or inet6:HOST:PORT: "[::1" has no closing bracket`, ""},
		{"inet:8891@[]", `"inet:8891@[]" must be inet:PORT@HOST or inet:HOST:PORT: want a host before the port`, ""},
	} {
		if tc.path == "" {
			tc.path = tc.parse // a kind named: both read it alike
		}
		for _, c := range []struct {
			name  string
			parse func(string) (Spec, error)
			want  string
		}{{"Parse", Parse, tc.parse}, {"ParsePath", ParsePath, tc.path}} {
			s, err := c.parse(tc.spec)
			got := s.Network + " " + s.Address
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("%s(%q) = %s\nwant %s", c.name, tc.spec, got, c.want)
			}
		}
	}
}

// Kind is the spec's kind as written, which core/config keeps when it
// resolves a relative path ("local:m.sock" stays a local: spec).
func TestKind(t *testing.T) {
	for spec, want := range map[string]string{"local:m": "local", "unix:m": "unix", "m": "", "inet6:1@::1": "inet6", "tcp:h:1": "tcp"} {
		if s, err := ParsePath(spec); err != nil || s.Kind != want {
			t.Errorf("%q: kind %q, %v; want %q", spec, s.Kind, err, want)
		}
	}
}
