package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// specConfigExample is SPEC.md's config example, byte for byte (its
// comments, its "…" line and its tls_cert = "cert.pem" included): the
// file users start from.
const specConfigExample = `hostname       = "mx.example.org"     # EHLO, Received, DSN Reporting-MTA
data_dir       = "/var/lib/sluice"    # Pebble queue
local_domains  = ["example.org"]      # accepted as final destination
relay_networks = ["127.0.0.0/8"]      # may relay without AUTH

[dns]                                  # default: /etc/resolv.conf
servers = ["127.0.0.1:5353"]

[admin]
listen = "127.0.0.1:8025"             # /api/…, /metrics, dashboard at /

[[listener]]
name = "mx"
listen = "0.0.0.0:25"
kind = "smtp"            # smtp | submission (AUTH required) | submissions (implicit TLS)
tls_cert = "cert.pem"    # STARTTLS offered when set
tls_key  = "key.pem"

[[stage]]
name     = "spf"
plugin   = "spf"         # first-party by name, or a path to any plugin executable
timeout  = "5s"
on_error = "tempfail"    # tempfail | continue | reject — when the stage crashes or times out
[stage.config]           # free-form, handed to the plugin at start
# …

[[stage]]
name   = "opendkim"
milter = "tcp:127.0.0.1:8891"   # or unix:/path — a real milter, chained like a plugin

[delivery]
relay   = ""                     # smarthost host:port for all remote mail; empty = MX
port    = 25                     # destination port for MX delivery (tests use another)
retry   = ["5m","10m","30m","1h","2h","4h"]   # the last one repeats
max_age = "5d"                   # then bounce
`

// TestSpecConfigExampleChecks: SPEC's config example, with the
// certificate it names beside it, passes sluice check-config, which
// prints its listener and its two stages in order, each with the
// settings the example gives or leaves to the defaults.
func TestSpecConfigExampleChecks(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the spf plugin: this test binary as sluice
	certFile, _ := testlib.WriteKeyPair(t, testlib.NewCA(t).Issue("mx.example.org"))
	cfg := filepath.Join(filepath.Dir(certFile), "sluice.toml") // tls_cert is relative to the file
	if err := os.WriteFile(cfg, []byte(specConfigExample), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "check-config", "-c", cfg)
	want := []string{
		cfg + ": ok",
		"listener mx 0.0.0.0:25 (smtp)",
		"pipeline:",
		"  1. spf  plugin spf  timeout=5s on_error=tempfail",
		"  2. opendkim  milter tcp:127.0.0.1:8891  timeout=5s on_error=tempfail",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("check-config of SPEC's example: missing %q (in this order: %q) in\n%s", want[i], want, out)
	}
}

// TestSpecDaemonCommandsWithConfigAndJSON: each command of SPEC's table
// that talks to the daemon finds a running sluice serve through -c FILE
// and answers --json with a JSON document about what it was asked (the
// message, the action), and the action is done.
func TestSpecDaemonCommandsWithConfigAndJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnData(func(int) error { return testlib.Temp }) // the messages stay queued
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
relay_networks = ["127.0.0.0/8"]
[admin]
listen = %q
[[listener]]
name = "mx"
listen = %q
[delivery]
relay = %q
`, adminAddr, smtpAddr, sink.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, cfg)
	var ids []string
	for i := range 3 {
		r, err := testlib.Send(smtpAddr, "a@sender.test", []string{"b@remote.test"},
			testlib.Message("a@sender.test", "b@remote.test", fmt.Sprint("spec ", i), "x"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r[strings.LastIndex(r, " ")+1:])
	}
	doc := func(args ...string) map[string]any {
		t.Helper()
		out := runCLI(t, append(args, "-c", cfg, "--json")...)
		var d map[string]any
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("sluice %s --json: %v\n%s", strings.Join(args, " "), err, out)
		}
		return d
	}
	state := func(id string) any { return doc("queue", "show", id)["state"] }

	var listed []string
	msgs, _ := doc("queue", "list")["messages"].([]any)
	for _, m := range msgs {
		if m, ok := m.(map[string]any); ok {
			listed = append(listed, fmt.Sprint(m["id"]))
		}
	}
	for _, id := range ids {
		if !slices.Contains(listed, id) {
			t.Errorf("queue list --json: %s not among %q", id, listed)
		}
	}
	if d := doc("queue", "show", ids[0]); d["id"] != ids[0] || d["state"] != "active" {
		t.Errorf("queue show --json: %v", d)
	}
	if d := doc("trace", ids[0]); d["id"] != ids[0] {
		t.Errorf("trace --json: %v", d)
	}
	for _, step := range []struct{ action, state string }{{"hold", "held"}, {"release", "active"}, {"retry", "active"}} {
		if d := doc("queue", step.action, ids[0]); d["id"] != ids[0] || d["action"] != step.action {
			t.Errorf("queue %s --json: %v", step.action, d)
		}
		if got := state(ids[0]); got != step.state {
			t.Errorf("after queue %s: state %v, want %s", step.action, got, step.state)
		}
	}
	if d := doc("queue", "flush"); d["action"] != "flush" || d["count"] == nil {
		t.Errorf("queue flush --json: %v", d)
	}
	for i, action := range []string{"bounce", "delete"} {
		id := ids[i+1]
		if d := doc("queue", action, id); d["id"] != id || d["action"] != action {
			t.Errorf("queue %s --json: %v", action, d)
		}
		if code, _, stderr := runErr("queue", "show", id, "-c", cfg); code != exitUser || !strings.Contains(stderr, "no such message") {
			t.Errorf("queue show after %s: exit %d, %q; want 1, no such message", action, code, stderr)
		}
	}
}

// TestSpecUnreachableDaemonExit2: every command that talks to the daemon
// exits 2 with one line on stderr when nothing answers at its admin
// address, found through -c FILE or given as --admin URL.
func TestSpecUnreachableDaemonExit2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[admin]\nlisten = %q\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n", closed)), 0o600); err != nil {
		t.Fatal(err)
	}
	const id = "33PGVGJ9GBV9SENWE4YG"
	for _, cmd := range [][]string{{"queue", "list"}, {"queue", "show", id}, {"queue", "retry", id}, {"queue", "hold", id},
		{"queue", "release", id}, {"queue", "delete", id}, {"queue", "bounce", id}, {"queue", "flush"}, {"trace", id}} {
		for _, via := range [][]string{{"-c", cfg}, {"--admin", closed}, {"--admin", "http://" + closed}} {
			for _, js := range [][]string{nil, {"--json"}} {
				args := slices.Concat(cmd, via, js)
				code, _, stderr := runErr(args...)
				if code != exitUnreachable || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "daemon unreachable at http://"+closed) {
					t.Errorf("sluice %s: exit %d, stderr %q; want 2 and one line", strings.Join(args, " "), code, stderr)
				}
			}
		}
	}
}
