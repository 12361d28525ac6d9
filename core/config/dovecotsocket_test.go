package config

import (
	"strings"
	"testing"
)

// [auth] dovecot_socket: a unix socket path, unix:PATH or inet:HOST:PORT,
// and not beside users_file (one password database); a refusal names the
// key's line.
func TestDovecotSocket(t *testing.T) {
	for _, ok := range []string{`"/run/dovecot/auth-client"`, `"private/auth"`, `"unix:/run/dovecot/auth"`, `"inet:127.0.0.1:12345"`} {
		c, err := Parse("f.toml", []byte(minimal+"[auth]\ndovecot_socket = "+ok+"\n"))
		if err != nil {
			t.Errorf("%s: %v", ok, err)
		} else if c.Auth.DovecotSocket != strings.Trim(ok, `"`) {
			t.Errorf("%s: got %q", ok, c.Auth.DovecotSocket)
		}
	}
	for src, want := range map[string]string{
		"[auth]\ndovecot_socket = \"inet:127.0.0.1\"\n":                       `dovecot_socket "inet:127.0.0.1" must be inet:PORT@HOST or inet:HOST:PORT: want host:port`,
		"[auth]\ndovecot_socket = \"unix:\"\n":                                `dovecot_socket "unix:" must be unix:PATH: the path is missing`,
		"[auth]\nusers_file = \"users\"\ndovecot_socket = \"private/auth\"\n": "dovecot_socket and users_file exclude each other",
	} {
		_, err := Parse("f.toml", []byte(minimal+src))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "f.toml:") {
			t.Errorf("%q: err %v, want f.toml:LINE: ... %s", src, err, want)
		}
	}
}

// dovecot_socket and a milter are socket specs read by one parser: a spec
// with a kind is accepted or refused alike, and refused with the same
// reason (a bare path is dovecot_socket's alone, as in Postfix). They
// differed: dovecot_socket took port 0, 70000 or a service name and an
// invalid host name, refused inet:PORT@HOST, and took "local:..." and
// "inet6:..." for relative paths; a milter took a path with a line break.
func TestSocketSpecsAlike(t *testing.T) {
	for _, spec := range []string{
		"unix:/run/s", "local:/run/s", "tcp:127.0.0.1:12345", "inet:[::1]:12345", "inet:12345@127.0.0.1", "inet6:12345@::1",
		"inet:127.0.0.1:0", "inet:127.0.0.1:70000", "inet:127.0.0.1:imap", "tcp:exa_mple:12345", "inet:12345@", "unix:", "local:",
		"unix:/run/a\\nb", "inet6:12345@[::1]", "inet:12345@[127.0.0.1]", "inet:12345@[dovecot.example]",
		"inet:12345", "inet::12345", "inet:[IPv6:::1]:12345", "inet:[IPv6:127.0.0.1]:12345",
	} {
		_, derr := Parse("f.toml", []byte(minimal+"[auth]\ndovecot_socket = \""+spec+"\"\n"))
		_, merr := Parse("f.toml", []byte(minimal+"[[stage]]\nname = \"m\"\nmilter = \""+spec+"\"\n"))
		if (derr == nil) != (merr == nil) {
			t.Errorf("%s: dovecot_socket %v, milter %v", spec, derr, merr)
		} else if derr != nil && strings.TrimPrefix(derr.Error(), "f.toml:5: dovecot_socket") != strings.TrimPrefix(merr.Error(), "f.toml:6: milter") {
			t.Errorf("%s: refused differently:\n%v\n%v", spec, derr, merr)
		}
	}
}
