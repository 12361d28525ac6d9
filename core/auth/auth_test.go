package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1}

func TestArgon2id(t *testing.T) {
	h, err := HashArgon2id("pässword", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if err := CheckHash(h); err != nil {
		t.Fatal(err)
	}
	if !Verify(h, "pässword") || Verify(h, "password") || Verify(h, "") {
		t.Fatal("argon2id verification wrong")
	}
	h2, _ := HashArgon2id("pässword", cheap)
	if h == h2 {
		t.Fatal("same salt twice")
	}
	// Padded base64 (some implementations write it) is accepted too.
	parts := strings.Split(h, "$")
	padded := strings.Join(append(parts[:4:4], parts[4]+"==", parts[5]+"="), "$")
	if !Verify(padded, "pässword") {
		t.Fatalf("padded %q not verified", padded)
	}
}

func TestBcrypt(t *testing.T) {
	h, err := HashBcrypt("secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(h, "secret") || Verify(h, "Secret") {
		t.Fatal("bcrypt verification wrong")
	}
	// OpenBSD's test vector, in the $2a$ and $2y$ (PHP) spellings.
	for _, v := range []string{"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"} {
		if err := CheckHash(v); err != nil || !Verify(v, "U*U") || Verify(v, "U*V") {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestBadHashes(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$1$md5$x", "{SHA}abc",
		"$2a$04$short",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$c2hvcnQ",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
	} {
		if CheckHash(h) == nil {
			t.Errorf("%q accepted", h)
		}
		if Verify(h, "") || Verify(h, "x") {
			t.Errorf("%q verified", h)
		}
	}
}

func TestUsersFileFormat(t *testing.T) {
	a, _ := HashArgon2id("a", cheap)
	b, _ := HashBcrypt("b", 4)
	src := "# users\n\nalice:" + a + "\n  bob:" + b + "  \n"
	u, err := ParseUsers("users", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Names(), ","); got != "alice,bob" {
		t.Fatalf("names %q", got)
	}
	if !u.Verify("alice", "a") || !u.Verify("bob", "b") || u.Verify("alice", "b") || u.Verify("carol", "a") {
		t.Fatal("verification wrong")
	}
	for _, tc := range []struct{ src, want string }{
		{"alice\n", "users:1: want user:hash"},
		{"\nalice:plain\n", "users:2: user alice: unsupported password hash"},
		{"alice:" + a + "\nalice:" + b + "\n", "users:2: user alice listed twice"},
		{"al ice:" + a + "\n", "users:1: user name"},
		// "*" is [auth.senders]' every user: a user of that name would
		// have its entries apply to everyone.
		{"*:" + a + "\n", `users:1: user name "*"`},
	} {
		if _, err := ParseUsers("users", []byte(tc.src)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	u := NewUsers()
	h, _ := HashBcrypt("pw", 4)
	if err := u.Set("zed", h); err != nil {
		t.Fatal(err)
	}
	if err := u.Set("amy", h); err != nil {
		t.Fatal(err)
	}
	if err := u.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "amy:" + h + "\nzed:" + h + "\n"; string(data) != want {
		t.Fatalf("file %q, want %q", data, want)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("left behind: %v", es)
	}
	if u.Set("bad:name", h) == nil || u.Set("x", "plain") == nil {
		t.Fatal("Set accepted a bad name or hash")
	}
}

// File re-reads the users file when it changes, keeps the last good
// content when the new one is broken, and treats a missing file as empty.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Verify("amy", "pw") {
		t.Fatal("missing file verified a user")
	}
	h, _ := HashBcrypt("pw", 4)
	write := func(content string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(age)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("amy:"+h+"\n", time.Hour)
	if !f.Verify("amy", "pw") {
		t.Fatal("new user not seen")
	}
	write("amy:"+h+"\nbroken\n", 2*time.Hour)
	if !f.Verify("amy", "pw") || f.Err() == nil {
		t.Fatalf("broken file: last good content should stay, err %v", f.Err())
	}
	write("bob:"+h+"\n", 3*time.Hour)
	if f.Verify("amy", "pw") || !f.Verify("bob", "pw") || f.Err() != nil {
		t.Fatal("fixed file not reloaded")
	}
	if err := os.WriteFile(path, []byte("broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(path); err == nil {
		t.Fatal("OpenFile accepted a broken file")
	}
}

func TestSenders(t *testing.T) {
	s := NewSenders(map[string][]string{"bob": {"bob@example.org", "@Bob.Example"}, "admin": {"*"}})
	if err := s.ParseSenders("senders", []byte("# more\nbob: robert@example.org, @alias.example\n\ncarol:carol@example.net\n")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, from string
		ok         bool
	}{
		{"bob", "bob@example.org", true},
		{"bob", "BOB@EXAMPLE.ORG", true},
		{"bob", "x@bob.example", true},
		{"bob", "x@sub.bob.example", false},
		{"bob", "robert@example.org", true},
		{"bob", "x@alias.example", true},
		{"bob", "alice@example.org", false},
		{"bob", "bob@example.org.evil", false},
		{"bob", "", true},
		{"alice@example.org", "alice@example.org", true},
		{"alice@example.org", "Alice@Example.org", true},
		{"alice@example.org", "bob@example.org", false},
		{"carol", "carol@example.net", true},
		{"carol", "carol", false},
		{"admin", "anyone@anywhere.example", true},
	} {
		if got := s.Allowed(tc.user, tc.from); got != tc.ok {
			t.Errorf("Allowed(%q, %q) = %v", tc.user, tc.from, got)
		}
	}
	// The user "*": its entries are every user's, beside their own, as
	// Haraka and Postfix let any authenticated user send as anyone.
	every := NewSenders(map[string][]string{"*": {"@example.org"}, "bob": {"bob@bob.example"}})
	if err := every.ParseSenders("senders", []byte("*: info@example.net\n")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, from string
		ok         bool
	}{
		{"alice", "alice@example.org", true},
		{"alice", "anyone@Example.Org", true},
		{"alice", "info@example.net", true},
		{"alice", "alice@example.net", false},
		{"bob", "bob@bob.example", true},
		{"bob", "x@example.org", true},
		{"bob", "x@other.example", false},
	} {
		if got := every.Allowed(tc.user, tc.from); got != tc.ok {
			t.Errorf(`with "*": Allowed(%q, %q) = %v`, tc.user, tc.from, got)
		}
	}
	// An internationalized domain is one domain in UTF-8 and as its
	// A-labels (RFC 5890 §2.3.2.1): MAIL FROM without SMTPUTF8 spells it
	// xn--, a From field or an SMTPUTF8 MAIL FROM may spell it in UTF-8.
	idn := NewSenders(map[string][]string{
		"bob":   {"@xn--bcher-kva.example", "info@Straße.example"},
		"carol": {"@Bücher.example"},
	})
	for _, tc := range []struct {
		user, from string
		ok         bool
	}{
		{"bob", "x@bücher.example", true},
		{"bob", "x@BÜCHER.example", true},
		{"bob", "x@xn--bcher-kva.example", true},
		{"bob", "x@bucher.example", false},
		{"bob", "info@xn--strae-oqa.example", true},
		{"bob", "info@straße.example", true},
		{"bob", "other@xn--strae-oqa.example", false},
		{"carol", "x@xn--bcher-kva.example", true},
		{"carol", "x@sub.xn--bcher-kva.example", false},
		{"jörg@bücher.example", "jörg@xn--bcher-kva.example", true},
		{"joerg@xn--bcher-kva.example", "Joerg@Bücher.example", true},
		{"joerg@xn--bcher-kva.example", "joerg2@bücher.example", false},
	} {
		if got := idn.Allowed(tc.user, tc.from); got != tc.ok {
			t.Errorf("IDN: Allowed(%q, %q) = %v", tc.user, tc.from, got)
		}
	}
	if !NewSenders(map[string][]string{"*": {"*"}}).Allowed("alice", "anyone@anywhere.example") {
		t.Error(`"*" = ["*"] does not let alice send as anyone`)
	}
	for _, bad := range []string{"bob\n", "bob: not an address\n", "b b: x@y\n", "bob: a@b@c\n"} {
		if err := NewSenders(nil).ParseSenders("senders", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
