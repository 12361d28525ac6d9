package config

import (
	"path/filepath"
	"testing"
)

// milter_daemon_name is taken per listener and left empty where it is
// not written; written empty, or with white space or a control character
// in it, it is an error at its line.
func TestMilterDaemonName(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const src = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\nmilter_daemon_name = \"mx.example.org\"\n" +
		"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:2587\"\n"
	c, err := Parse(cfg, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Listeners[0].MilterDaemonName; got != "mx.example.org" {
		t.Errorf("mx: milter_daemon_name = %q", got)
	}
	if got := c.Listeners[1].MilterDaemonName; got != "" {
		t.Errorf("sub: milter_daemon_name = %q, want none", got)
	}
	const head = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	for _, tc := range []struct{ line, want string }{
		{`milter_daemon_name = ""`, `milter_daemon_name = "": want a name (leave milter_daemon_name out for the listener's name)`},
		{`milter_daemon_name = "mx example"`, `milter_daemon_name "mx example" holds white space or a control character`},
		{`milter_daemon_name = "mx\texample"`, `milter_daemon_name "mx\texample" holds white space or a control character`},
		{`milter_daemon_name = "mx\u0000"`, `milter_daemon_name "mx\x00" holds white space or a control character`},
		{`milter_daemon_name = "ORIGINATING\n"`, `milter_daemon_name "ORIGINATING\n" holds white space or a control character`},
	} {
		_, err := Parse(cfg, []byte(head+tc.line+"\n"))
		if want := cfg + ":4: " + tc.want; err == nil || err.Error() != want {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.line, err, want)
		}
	}
}
