package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/auth"
)

// runStdin runs a command in-process with stdin; it returns the exit code,
// stdout and stderr.
func runStdin(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserAddListDel(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	if code, _, e := runStdin("s3cret pass\n", "user", "add", "alice@example.org", "-f", file); code != 0 {
		t.Fatalf("add: exit %d: %s", code, e)
	}
	if code, _, e := runStdin("other\r\n", "user", "add", "-bcrypt", "bob", "-f", file); code != 0 {
		t.Fatalf("add -bcrypt: exit %d: %s", code, e)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file %v mode %v, want 0600", err, st.Mode())
	}
	u, err := auth.LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Verify("alice@example.org", "s3cret pass") || !u.Verify("bob", "other") || u.Verify("bob", "other\r") {
		t.Fatal("stored hashes do not verify the passwords read from stdin")
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), "alice@example.org:$argon2id$v=19$") || !strings.Contains(string(data), "bob:$2a$12$") {
		t.Fatalf("users file:\n%s", data)
	}
	if _, out, _ := runStdin("", "user", "list", "-f", file); out != "alice@example.org\nbob\n" {
		t.Fatalf("list: %q", out)
	}
	// Setting a user again replaces its password.
	runStdin("new\n", "user", "add", "bob", "-f", file, "-bcrypt")
	if u, _ := auth.LoadUsers(file); !u.Verify("bob", "new") || u.Verify("bob", "other") {
		t.Fatal("password not replaced")
	}
	if code, _, e := runStdin("", "user", "del", "bob", "-f", file); code != 0 {
		t.Fatalf("del: exit %d: %s", code, e)
	}
	if _, out, _ := runStdin("", "user", "list", "-f", file); out != "alice@example.org\n" {
		t.Fatalf("list after del: %q", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// -c finds [auth] users_file relative to the config file.
func TestUserWithConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n[auth]\nusers_file = \"users\"\n"), 0o600)
	if code, _, e := runStdin("pw\n", "user", "add", "carol", "-c", cfg); code != 0 {
		t.Fatalf("add: exit %d: %s", code, e)
	}
	if u, err := auth.LoadUsers(filepath.Join(dir, "users")); err != nil || !u.Verify("carol", "pw") {
		t.Fatalf("users file next to the config: %v", err)
	}
}

func TestUserErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	noAuth := filepath.Join(dir, "plain.toml")
	os.WriteFile(noAuth, []byte("hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n"), 0o600)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw\n", []string{"user", "add", "alice"}, "which users file"},
		{"pw\n", []string{"user", "add", "alice", "-c", noAuth}, "has no [auth] users_file"},
		{"\n", []string{"user", "add", "alice", "-f", file}, "empty password"},
		{"", []string{"user", "add", "alice", "-f", file}, "no password on stdin"},
		// A password is never an argument.
		{"pw\n", []string{"user", "add", "alice", "pw", "-f", file}, "usage: sluice user"},
		{"pw\n", []string{"user", "add", "a:b", "-f", file}, "may not hold ':'"},
		// [auth.senders]' "*" is every user: no user may have the name.
		{"pw\n", []string{"user", "add", "*", "-f", file}, `user name "*" is [auth.senders]' every user`},
		{"", []string{"user", "del", "nobody", "-f", file}, "no user nobody"},
		{"", []string{"user", "rename", "x", "-f", file}, "usage: sluice user"},
	} {
		code, _, e := runStdin(tc.stdin, tc.args...)
		if code != exitUser || !strings.Contains(e, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, e, tc.want)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a failed add wrote the file: %v", err)
	}
}
