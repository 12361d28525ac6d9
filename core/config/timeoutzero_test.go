package config

import (
	"strings"
	"testing"
)

// A timeout written "0s" reads as "no timeout" and was silently the
// default (a stage's 5s); retry = [] reads as "no retries" and was the
// default schedule. Each is refused at its line, as max_age = "0s" is.
func TestZeroTimeoutsRefused(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{minimal + "[[stage]]\nname = \"s\"\nplugin = \"spf\"\ntimeout = \"0s\"\n",
			`f.toml:7: stage "s": timeout = "0s": want a positive duration (leave timeout out for the default, 5s)`},
		{minimal + "[[stage]]\nname = \"s\"\nplugin = \"spf\"\ndata_timeout = \"0s\"\n",
			`f.toml:7: stage "s": data_timeout = "0s": want a positive duration`},
		{minimal + "[dns]\ntimeout = \"0s\"\n", `f.toml:5: timeout = "0s": want a positive duration (leave timeout out for the default, 5s)`},
		{minimal + "[limits]\ncommand_timeout = \"0s\"\n", `f.toml:5: command_timeout = "0s": want a positive duration (leave command_timeout out for the default, 5m)`},
		{minimal + "[limits]\ndata_timeout = \"0s\"\n", `f.toml:5: data_timeout = "0s"`},
		{minimal + "[delivery]\nport = 25\nconnect_timeout = \"0s\"\n", `f.toml:6: connect_timeout = "0s"`},
		{minimal + "[delivery]\ncommand_timeout = \"0s\"\n", `f.toml:5: command_timeout = "0s"`},
		{minimal + "[delivery]\nidle_timeout = \"0s\"\n", `f.toml:5: idle_timeout = "0s"`},
		{minimal + "[delivery]\nport = 25\nretry = []\n", `f.toml:6: retry = []: want at least one interval`},
	} {
		if _, err := Parse("f.toml", []byte(tc.src)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\ngot  %v\nwant %q", tc.src, err, tc.want)
		}
	}
	// Left out, each takes its default.
	c, err := Parse("f.toml", []byte(minimal+"[[stage]]\nname = \"s\"\nplugin = \"spf\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Stages[0].Timeout.Duration == 0 || c.DNS.Timeout.Duration == 0 || len(c.Delivery.Retry) == 0 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}
