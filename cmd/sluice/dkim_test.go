package main

import (
	"os"
	"path/filepath"
	"strings"
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

// dkim txt prints the record keygen printed for the key: RSA (its record
// split into quoted strings) and Ed25519, found under -o as keygen wrote
// it or named by -k, a Unicode domain as its A-labels, as keygen did.
func TestDKIMTXTRepeatsKeygen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ domain, kind string }{{"example.org", "rsa"}, {"bücher.example", "ed25519"}} {
		code, out, stderr := runErr("dkim", "keygen", "-d", tc.domain, "-s", "s1", "-t", tc.kind, "-o", dir)
		if code != exitOK {
			t.Fatalf("keygen -t %s: exit %d %s", tc.kind, code, stderr)
		}
		head, record, ok := strings.Cut(out, "\n")
		path, _ := strings.CutPrefix(head, "; private key written to ")
		if !ok || !strings.HasPrefix(record, "s1._domainkey.") || !strings.Contains(record, "k="+tc.kind+"; p=") {
			t.Fatalf("keygen -t %s printed %q", tc.kind, out)
		}
		if tc.kind == "rsa" && !strings.Contains(record, `" "`) {
			t.Fatalf("the RSA record is one string: %q", record)
		}
		for _, args := range [][]string{{"-o", dir}, {"-k", path}} {
			code, txt, stderr := runErr(append([]string{"dkim", "txt", "-d", tc.domain, "-s", "s1"}, args...)...)
			if want := "; public key of " + path + "\n" + record; code != exitOK || txt != want {
				t.Errorf("txt %v: exit %d %s\n%q\nwant\n%q", args, code, stderr, txt, want)
			}
		}
	}
}

// dkim txt of a file that is no private key, or of none, is one line on
// stderr and exit 1, and so are -k and -o together.
func TestDKIMTXTErrors(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "s1.example.org.key")
	if err := os.WriteFile(notKey, []byte("v=DKIM1; k=rsa; p=MIIB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s1", "-o", dir}, notKey, "not a DKIM signing key", "no PEM block")
	pub := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pub, []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s1", "-k", pub}, pub, "not a DKIM signing key", `"PUBLIC KEY"`)
	corrupt := filepath.Join(dir, "corrupt.pem")
	if err := os.WriteFile(corrupt, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s1", "-k", corrupt}, corrupt, "not a DKIM signing key", "truncated")
	// A path naming something endless (/dev/zero) or huge by mistake
	// ends in an error after 1 MiB, not a read that never ends.
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, make([]byte, 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s1", "-k", huge}, huge, "not a key file")
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s2", "-o", dir}, "s2.example.org.key", "no key there")
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org", "-s", "s1", "-k", pub, "-o", dir}, "give -k or -o, not both")
	wantUserError(t, []string{"dkim", "txt", "-d", "example.org"}, "usage: sluice dkim txt")
	wantUserError(t, []string{"dkim", "nope"}, "usage: sluice dkim keygen|txt")
}
