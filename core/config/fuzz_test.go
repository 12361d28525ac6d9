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
			c.Limits.AuthLockout.Duration <= 0 || c.Delivery.Port < 1 {
			t.Fatalf("accepted a config without its defaults: %+v", c.Limits)
		}
	})
}
