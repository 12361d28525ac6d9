package config

import (
	"strings"
	"testing"
)

// A stage's dry_run is off unless set; a value that is not a boolean is
// refused at its line.
func TestStageDryRun(t *testing.T) {
	const base = minimal + "[dns]\nservers = [\"127.0.0.1:1\"]\n"
	c, err := Parse("sluice.toml", []byte(base+`
[[stage]]
name = "a"
milter = "inet:127.0.0.1:8891"

[[stage]]
name = "b"
milter = "inet:127.0.0.1:8892"
dry_run = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Stages[0].DryRun || !c.Stages[1].DryRun {
		t.Errorf("dry_run: %v %v, want false true", c.Stages[0].DryRun, c.Stages[1].DryRun)
	}
	for _, v := range []string{`"yes"`, `1`} {
		_, err := Parse("sluice.toml", []byte(base+"\n[[stage]]\nname = \"a\"\nmilter = \"inet:127.0.0.1:8891\"\ndry_run = "+v+"\n"))
		if err == nil || !strings.Contains(err.Error(), "dry_run") || !strings.Contains(err.Error(), ":10:") {
			t.Errorf("dry_run = %s: %v, want an error naming dry_run at line 10", v, err)
		}
	}
}
