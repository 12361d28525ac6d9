package main

import (
	"strings"
	"testing"
)

// TestReplayPrintsQueuedHeaders: replay prints the message as the daemon
// would queue it: under our Received field (with --ip, with ESMTP), with
// the Authentication-Results field of the stages' results, and without
// the forged one that claims our hostname. It printed the forged field
// and neither of ours.
func TestReplayPrintsQueuedHeaders(t *testing.T) {
	cfg, msg := replayFiles(t, "mx.example.org", `[[stage]]
name = "spf"
plugin = ACTOR
[stage.config]
json = '{"mail": {"auth_results": [{"method": "spf", "result": "pass", "props": {"smtp.mailfrom": "alice@example.org"}}]}}'
`, "Authentication-Results: mx.example.org; dkim=none\nFrom: alice@example.org\nTo: bob@example.net\nSubject: hello\n\nhi\n")

	out := runCLI(t, "replay", "-c", cfg, msg, "--from", "alice@example.org", "--ip", "192.0.2.7", "--helo", "client.example")
	_, message, ok := strings.Cut(out, "--- resulting message ---\n")
	if !ok {
		t.Fatalf("no resulting message in:\n%s", out)
	}
	want := "Received: from client.example ([192.0.2.7])\r\n" +
		"\tby mx.example.org (Sluice) with ESMTP id replay\r\n" +
		"\tfor <bob@example.net>; "
	if !strings.HasPrefix(message, want) {
		t.Errorf("resulting message does not start with %q:\n%s", want, message)
	}
	_, below, _ := strings.Cut(message, "\r\n\tfor <bob@example.net>; ")
	_, below, _ = strings.Cut(below, "\r\n")
	if ar := "Authentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=alice@example.org\r\nFrom: "; !strings.HasPrefix(below, ar) {
		t.Errorf("no %q below Received:\n%s", ar, message)
	}
	if strings.Contains(message, "dkim=none") {
		t.Errorf("the forged Authentication-Results is kept:\n%s", message)
	}
}
