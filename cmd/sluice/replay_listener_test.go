package main

import (
	"bytes"
	"strings"
	"testing"
)

// replay --listener plays a session on that listener: a stage limited to
// another listener is skipped, as the trace of a real session shows it,
// and the plugins see the listener's name; without the flag every stage
// runs.
func TestReplayListener(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[listener]]
name = "sub"
listen = "127.0.0.1:0"

[[stage]]
name = "subonly"
plugin = ACTOR
listeners = ["sub"]
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "echo", "name": "X-Sub-Listener", "value": "listener"}]}}}'

[[stage]]
name = "every"
plugin = ACTOR
[stage.config]
json = '{"data": {"*": {"edits": [{"op": "echo", "name": "X-Listener", "value": "listener"}]}}}'
`, "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg, "--listener", "listener1")
	if !hasRow(out, "subonly data skipped 0.000ms not for listener listener1") {
		t.Errorf("--listener listener1: no skipped row for subonly in:\n%s", out)
	}
	if !strings.Contains(out, `X-Listener: "listener1"`) {
		t.Errorf("--listener listener1: the plugin was not shown the listener:\n%s", out)
	}
	if strings.Contains(out, "X-Sub-Listener") {
		t.Errorf("--listener listener1: the stage for sub ran:\n%s", out)
	}

	out = runCLI(t, "replay", "-c", cfg, msg, "--listener", "sub")
	for _, want := range []string{`X-Sub-Listener: "sub"`, `X-Listener: "sub"`} {
		if !strings.Contains(out, want) {
			t.Errorf("--listener sub: missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "skipped") {
		t.Errorf("--listener sub: a stage was skipped:\n%s", out)
	}

	out = runCLI(t, "replay", "-c", cfg, msg)
	if !strings.Contains(out, "X-Sub-Listener") || strings.Contains(out, "skipped") {
		t.Errorf("without --listener: every stage should run:\n%s", out)
	}
}

// An unknown --listener is a user error naming the config's listeners.
func TestReplayUnknownListener(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[listener]]
name = "sub"
listen = "127.0.0.1:0"
`, "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nhi\n")
	var out, errb bytes.Buffer
	code := run([]string{"replay", "-c", cfg, msg, "--listener", "submission"}, nil, &out, &errb)
	if code != exitUser || !strings.Contains(errb.String(), `no listener "submission" (have: listener1, sub)`) {
		t.Fatalf("exit %d, stderr %q, want exit %d naming listener1 and sub", code, errb.String(), exitUser)
	}
}

// hasRow reports whether a line of out holds the words of row, whatever
// the table's padding.
func hasRow(out, row string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == row {
			return true
		}
	}
	return false
}
