package daemon

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// [auth] check_from_header over real SMTP: an authenticated user's From
// field is held to the rule its MAIL FROM is ([auth.senders]), every
// address of it (several mailboxes, a group, several From fields); a
// forged one is refused 550 5.7.1 at the end of DATA and nothing is
// queued, so no stage sees it. A message without From, and mail from a
// client that did not authenticate, are not checked; with the key off
// (a reload turning it off) the From is not compared, as before.
func TestCheckFromHeader(t *testing.T) {
	dir := t.TempDir()
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	hash, err := auth.HashBcrypt("secret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice@sluice.test:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	conf := func(check bool) string {
		return fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\nrelay_networks = [\"127.0.0.0/8\"]\n", filepath.Join(dir, "data")) +
			fmt.Sprintf("[auth]\nusers_file = %q\ncheck_from_header = %v\n[auth.senders]\n\"alice@sluice.test\" = [\"@alice.test\"]\n", users, check) +
			"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			fmt.Sprintf("[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile) +
			relayTo(sink)
	}
	d, path := startFile(t, conf(true))
	clientTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"}
	msg := func(from, subject string) []byte {
		return []byte(from + "To: <bob@remote.test>\r\nSubject: " + subject + "\r\n\r\nhi\r\n")
	}
	submit := func(from, subject string) error {
		_, err := sendFrom("127.0.0.1", d.SMTPAddrs()["sub"].String(), clientTLS, "alice@sluice.test:secret",
			"alice@sluice.test", "bob@remote.test", msg(from, subject))
		return err
	}
	const (
		notOwned   = "550 5.7.1 From header address not owned by the authenticated user"
		unreadable = "550 5.7.1 From header field unreadable, cannot check it against the authenticated user"
	)
	var delivered []string
	for _, tc := range []struct{ from, subject, want string }{
		{"From: Alice <alice@sluice.test>\r\n", "own", ""},
		{"From: ALICE@Sluice.Test\r\n", "own-case", ""},
		{"From: =?windows-1252?Q?J=F6rg?= <joerg@alice.test>\r\n", "listed-domain", ""},
		{"From: alice@sluice.test,\r\n other@alice.test\r\n", "mailboxes", ""},
		{"From: Team: alice@sluice.test, other@alice.test;\r\n", "group", ""},
		{"", "no-from", ""},
		{"From: The CEO <ceo@bank.test>\r\n", "forged", notOwned},
		{"From: <alice@sluice.test.bank.test>\r\n", "forged-suffix", notOwned},
		{"From: alice@sluice.test, ceo@bank.test\r\n", "forged-second-mailbox", notOwned},
		{"From: Team: alice@sluice.test, ceo@bank.test;\r\n", "forged-in-group", notOwned},
		{"From: alice@sluice.test\r\nFrom: ceo@bank.test\r\n", "forged-second-field", notOwned},
		{"From: ceo@bank.test (alice@sluice.test)\r\n", "forged-comment", notOwned},
		{"From: alice@sluice.test <ceo@bank.test>\r\n", "unreadable", unreadable},
	} {
		err := submit(tc.from, tc.subject)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.subject, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: %v, want %q", tc.subject, err, tc.want)
		case tc.want == "":
			delivered = append(delivered, tc.subject)
		}
	}
	// A client that did not authenticate (a relay_networks one) is not
	// checked, whatever its From.
	if _, err := sendFrom("127.0.0.1", d.SMTPAddrs()["mx"].String(), nil, "", "app@sluice.test", "bob@remote.test",
		msg("From: The CEO <ceo@bank.test>\r\n", "unauthenticated")); err != nil {
		t.Errorf("unauthenticated: %v", err)
	}
	delivered = append(delivered, "unauthenticated")
	checkSubjects(t, d, sink, delivered)

	// Off (as by default): the From is not compared.
	if err := os.WriteFile(path, []byte(conf(false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if err := submit("From: The CEO <ceo@bank.test>\r\n", "off"); err != nil {
		t.Errorf("check_from_header = false: %v", err)
	}
	checkSubjects(t, d, sink, append(delivered, "off"))
}

// checkSubjects waits for the queue to empty and holds the subjects the
// sink got, in any order, to want: a refused message was never queued.
func checkSubjects(t *testing.T, d *Daemon, sink *testlib.Sink, want []string) {
	t.Helper()
	sink.WaitN(t, len(want), 20*time.Second)
	waitEmpty(t, d)
	var got []string
	for _, dl := range sink.Deliveries() {
		_, rest, _ := strings.Cut(string(dl.Data), "\r\nSubject: ")
		subject, _, _ := strings.Cut(rest, "\r\n")
		got = append(got, subject)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}
