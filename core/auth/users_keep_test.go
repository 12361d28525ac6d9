package auth

import (
	"os"
	"path/filepath"
	"testing"
)

// "sluice user add" run by root on a users file it gave the daemon's
// group (root:sluice 0640) leaves it so: a 0600 copy would shut out the
// daemon running as sluice, at the next login and at the next start.
func TestWriteFileKeepsTheModeOfTheFileItReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	u := NewUsers()
	if err := u.Set("alice@example.org", "$2y$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"); err != nil {
		t.Fatal(err)
	}
	if err := u.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new users file: mode %v, want 0600", fi.Mode())
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := u.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("replaced users file: mode %v, want the 0640 it had", fi.Mode())
	}
}
