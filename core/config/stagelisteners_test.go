package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// A stage's listeners names [[listener]]s; left out, the stage serves
// them all. An unknown name, or an empty list, is an error at the key's
// line.
func TestStageListeners(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const head = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n" +
		"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:2587\"\n" +
		"[[stage]]\nname = \"all\"\nplugin = \"spf\"\n" +
		"[[stage]]\nname = \"m\"\nmilter = \"inet:127.0.0.1:8891\"\n"
	c, err := Parse(cfg, []byte(head+"listeners = [\"sub\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Stages[0].Listeners; got != nil {
		t.Errorf("all: listeners = %q, want none (every listener)", got)
	}
	if got := c.Stages[1].Listeners; !slices.Equal(got, []string{"sub"}) {
		t.Errorf("m: listeners = %q, want [sub]", got)
	}
	for _, tc := range []struct{ line, want string }{
		{`listeners = ["submission"]`, `stage "m": no listener "submission" (have: mx, sub)`},
		{`listeners = ["mx", "smtp"]`, `stage "m": no listener "smtp" (have: mx, sub)`},
		{`listeners = []`, `stage "m": listeners = [] serves no session: omit the key for all listeners`},
	} {
		_, err := Parse(cfg, []byte(head+"timeout = \"3s\"\n"+tc.line+"\n"))
		if want := cfg + ":14: " + tc.want; err == nil || err.Error() != want {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.line, err, want)
		}
	}
	// A listener left unnamed is listener1, listener2…, as it is called
	// everywhere else.
	_, err = Parse(cfg, []byte("[[listener]]\nlisten = \"127.0.0.1:2525\"\n[[stage]]\nname = \"s\"\nplugin = \"spf\"\nlisteners = [\"listener1\"]\n"))
	if err != nil {
		t.Errorf("listeners naming a default listener name: %v", err)
	}
}
