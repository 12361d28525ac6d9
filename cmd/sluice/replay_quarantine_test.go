package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// sluice replay shows a quarantine at data as the daemon now decides it:
// the stages after the quarantining one are asked (their rows in the
// trace, their edits in the message, which carries the quarantining
// stage's field as they saw it) and the outcome is quarantine, by the
// quarantining stage as the trace's outcome names it (--json: "outcome"
// the action, "stage" the stage), the message the one that would be
// queued; a later stage's reject refuses it. Replay used to stop at the
// quarantining stage.
func TestReplayQuarantineAtDataAsksLaterStages(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.sluice.test", `
[[stage]]
name = "spam"
plugin = ACTOR
[stage.config]
json = '{"data": {"spammy": {"action": "quarantine", "edits": [{"op": "add_header", "name": "X-Spam-Flag", "value": "YES"}]}}}'
[[stage]]
name = "signer"
plugin = ACTOR
[stage.config]
json = '{"data": {"refused": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "signer says no"}, "emptied": {"edits": [{"op": "remove_recipient", "addr": "bob@example.net"}]}, "*": {"edits": [{"op": "echo", "name": "X-Signed-Saw", "value": "header:X-Spam-Flag"}]}}}'
`, "From: alice@example.org\nTo: bob@example.net\nSubject: spammy\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg)
	for _, re := range []string{`(?m)^spam +data +quarantine `, `(?m)^signer +data +continue `} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no trace row %s in:\n%s", re, out)
		}
	}
	if !strings.Contains(out, "outcome: quarantine by stage spam\n--- resulting message ---\n") ||
		!strings.Contains(out, "X-Spam-Flag: YES\r\nX-Signed-Saw: \"YES\"\r\n") {
		t.Errorf("want the quarantined message with the later stage's field:\n%s", out)
	}

	var res struct{ Outcome, Stage string }
	if err := json.Unmarshal([]byte(runCLI(t, "replay", "-c", cfg, msg, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "quarantine" || res.Stage != "spam" {
		t.Errorf("--json: outcome %q, stage %q; want quarantine by spam", res.Outcome, res.Stage)
	}

	writeFile(t, msg, "From: alice@example.org\nTo: bob@example.net\nSubject: spammy but refused\n\nhi\n")
	out = runCLI(t, "replay", "-c", cfg, msg)
	if !strings.Contains(out, "outcome: reject at data: 550 5.7.1 signer says no\n") || strings.Contains(out, "resulting message") {
		t.Errorf("quarantined, then refused by a later stage:\n%s", out)
	}

	// A later stage removing every recipient: the daemon discards the
	// message rather than hold it, and replay says so (it used to show
	// it as the quarantined message to be queued).
	writeFile(t, msg, "From: alice@example.org\nTo: bob@example.net\nSubject: spammy and emptied\n\nhi\n")
	out = runCLI(t, "replay", "-c", cfg, msg)
	if !strings.Contains(out, "outcome: discard\n--- message discarded (answered 250)") {
		t.Errorf("quarantined, then every recipient removed:\n%s", out)
	}
	res.Outcome, res.Stage = "", ""
	if err := json.Unmarshal([]byte(runCLI(t, "replay", "-c", cfg, msg, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "discard" || res.Stage != "" {
		t.Errorf("--json, every recipient removed: outcome %q, stage %q; want discard by no stage", res.Outcome, res.Stage)
	}
}
