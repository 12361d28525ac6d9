package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// A stage's skip_networks takes CIDRs and bare addresses; a bad one is an
// error at the key's line.
func TestStageSkipNetworks(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const head = "[[listener]]\nlisten = \"127.0.0.1:2525\"\n" +
		"[[stage]]\nname = \"m\"\nmilter = \"inet:127.0.0.1:8891\"\n"
	c, err := Parse(cfg, []byte(head+"skip_networks = [\"192.168.0.0/16\", \"::1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Stages[0].SkipNetworks
	if len(got) != 2 || got[0].String() != "192.168.0.0/16" || got[1].String() != "::1/128" {
		t.Errorf("skip_networks = %v, want [192.168.0.0/16 ::1/128]", got)
	}
	_, err = Parse(cfg, []byte(head+"timeout = \"3s\"\nskip_networks = [\"10.0.0.0/8\", \"10.0.0.x\"]\n"))
	if want := cfg + ":7: stage.skip_networks: "; err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `"10.0.0.x"`) {
		t.Errorf("bad network: got %v, want %s… naming 10.0.0.x", err, want)
	}
}
