package main

import (
	"strings"
	"testing"
)

// `sluice -h` repeats each command's own synopsis, flags and all: a flag
// added to a command's -h and forgotten in the overview is one a user
// reading the overview never learns of (replay's --helo was).
func TestUsageListsEachCommandsSynopsis(t *testing.T) {
	for name, u := range map[string]string{"replay": replayUsage, "trace": traceUsage, "reload": reloadUsage, "tlsrpt": tlsrptUsage} {
		first, _, _ := strings.Cut(u, "\n")
		synopsis := strings.TrimPrefix(first, "usage: sluice ")
		if !strings.Contains(usage, "\n  "+synopsis) {
			t.Errorf("sluice -h lacks %s's synopsis %q:\n%s", name, synopsis, usage)
		}
	}
}
