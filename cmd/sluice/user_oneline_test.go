package main

import (
	"path/filepath"
	"testing"
)

// user's usage errors are one line, as every error is (SPEC: "exit 1,
// clear one-line message"); the whole usage is for -h.
func TestUserErrorsOneLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	for _, args := range [][]string{
		{"user"},
		{"user", "rename", "x", "-f", file},
		{"user", "list", "-x", "-f", file},
	} {
		wantUserError(t, args, "usage: sluice user add NAME")
	}
}
