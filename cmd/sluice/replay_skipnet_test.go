package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replay --ip plays a session from that client: a stage whose
// skip_networks hold it is skipped, as a real session's trace shows it;
// the default client, 127.0.0.1, is matched too.
func TestReplaySkipNetworks(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "outside"
plugin = ACTOR
skip_networks = ["192.168.0.0/16", "127.0.0.1"]
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Outside", "value": "yes"}]}}}'
`, "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nhi\n")

	for _, ip := range []string{"192.168.3.4", ""} {
		args := []string{"replay", "-c", cfg, msg}
		if ip != "" {
			args = append(args, "--ip", ip)
		}
		out := runCLI(t, args...)
		if !hasRow(out, "outside data skipped 0.000ms client in skip_networks") || strings.Contains(out, "X-Outside") {
			t.Errorf("--ip %q: the stage was not skipped:\n%s", ip, out)
		}
	}
	out := runCLI(t, "replay", "-c", cfg, msg, "--ip", "10.1.2.3")
	if !strings.Contains(out, "X-Outside: yes") || strings.Contains(out, "skipped") {
		t.Errorf("--ip 10.1.2.3: the stage did not run:\n%s", out)
	}
}

// check-config shows a stage's skip_networks.
func TestCheckConfigShowsSkipNetworks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.toml")
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[stage]]\nname = \"spam\"\nmilter = \"inet:127.0.0.1:8891\"\nskip_networks = [\"192.168.0.0/16\", \"::1\"]\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "  1. spam  milter inet:127.0.0.1:8891  timeout=5s on_error=tempfail skip_networks=192.168.0.0/16,::1/128\n"
	if got := runCLI(t, "check-config", "-c", path); !strings.HasSuffix(got, want) {
		t.Fatalf("got:\n%s\nwant it to end:\n%s", got, want)
	}
}
