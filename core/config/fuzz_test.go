package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any input either parses into a config that passes its own
// validation or fails with a positioned *Error naming the file; never a
// panic.
func FuzzParse(f *testing.F) {
	f.Add(string(DefaultTOML()))
	f.Add(minimal)
	f.Add(minimal + "[limits]\nmax_errors = -1\nmessage_rate_per_ip = { per_minute = 10, burst = 5 }\nauth_lockout = \"1h\"\n")
	f.Add(minimal + "[auth]\nusers_file = \"users\"\n[auth.senders]\nbob = [\"bob@example.org\", \"@example.net\", \"*\"]\n")
	f.Add(minimal + "kind = \"submission\"\ntls_cert = \"c\"\ntls_key = \"k\"\n")
	f.Add("[[listener]\n")
	f.Add("relay_networks = [\"10.0.0.0/8\", \"::1\", \"x\"]\n" + minimal)
	f.Add(minimal + "[[stage]]\nname = \"s\"\nplugin = \"spf\"\ntimeout = \"5d\"\n[stage.config]\na = { b = [1, 2.5, \"c\"] }\n")
	f.Add(minimal + "[delivery]   # schedule\nmax_age = 5\nretry = [\"1d\", \"0s\"]\n[[listener]] # b\nlisten = \"127.0.0.1:2525\"\n")
	f.Add(minimal + "[admin]\nlisten = \"[::1]:0\"\n[limits]\nmax_connections = -1\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.toml", []byte(src))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "f.toml" || !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error %v (%T) does not name the file", err, err)
			}
			return
		}
		if len(c.Listeners) == 0 || c.Limits.MaxLineLength < 1000 || c.Limits.MaxErrors == 0 ||
			c.Limits.AuthLockout.Duration <= 0 || c.Delivery.Port < 1 || c.Limits.MaxConnections < 1 ||
			c.Delivery.MaxAge.Duration <= 0 {
			t.Fatalf("accepted a config without its defaults: %+v", c.Limits)
		}
		for _, r := range c.Delivery.Retry {
			if r.Duration < minRetry {
				t.Fatalf("accepted retry %v", r.Duration)
			}
		}
	})
}
