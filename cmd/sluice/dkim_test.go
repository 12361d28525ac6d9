package main

import (
	"os"
	"path/filepath"
	"testing"
)

// dkim keygen refuses to write over a key of the same selector, saying
// why and what to do on one line, and the key stays as it was; a bad
// flag is one line too.
func TestDKIMKeygenErrors(t *testing.T) {
	dir := t.TempDir()
	args := []string{"dkim", "keygen", "-d", "example.org", "-s", "s1", "-t", "ed25519", "-o", dir}
	if code, _, stderr := runErr(args...); code != exitOK {
		t.Fatalf("first keygen: exit %d %s", code, stderr)
	}
	key := filepath.Join(dir, "s1.example.org.key")
	before, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	wantUserError(t, args, "file exists", `a key for selector "s1" is there already`, "choose another selector")
	if after, _ := os.ReadFile(key); string(after) != string(before) {
		t.Fatal("the existing key was changed")
	}
	wantUserError(t, []string{"dkim", "keygen", "-x"}, "flag provided but not defined: -x", "usage: sluice dkim keygen")
}
