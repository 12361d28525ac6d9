package main

import (
	"strings"
	"testing"
)

// An unknown command is a user error on one line that names the
// commands, not the whole usage text; each command it names is known.
func TestUnknownCommandOneLine(t *testing.T) {
	wantUserError(t, []string{"frobnicate"}, `unknown command "frobnicate"`, "serve, check-config, queue", "sluice help")
	for _, c := range commands {
		if c == "sendmail" { // its -h is a hop count, and it reads stdin
			continue
		}
		if _, _, stderr := runErr(c, "-h"); strings.Contains(stderr, "unknown command") {
			t.Errorf("%s -h: %s", c, stderr)
		}
	}
}
