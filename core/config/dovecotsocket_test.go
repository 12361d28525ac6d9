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
		"[auth]\ndovecot_socket = \"inet:127.0.0.1\"\n":                       "want a unix socket PATH",
		"[auth]\ndovecot_socket = \"unix:\"\n":                                "want a unix socket PATH",
		"[auth]\nusers_file = \"users\"\ndovecot_socket = \"private/auth\"\n": "dovecot_socket and users_file exclude each other",
	} {
		_, err := Parse("f.toml", []byte(minimal+src))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "f.toml:") {
			t.Errorf("%q: err %v, want f.toml:LINE: ... %s", src, err, want)
		}
	}
}
