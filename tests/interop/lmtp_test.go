//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Debian's Dovecot LMTP server (scripts/install-deps.sh dovecot) as the
// mail store behind the route plugin: its own `dovecot -F` on a free
// loopback port, config, passwd-file, Maildirs and logs in the test's temp
// dir (templates in dovecot/). Only alice and bob exist there.

// startDovecot runs Dovecot's LMTP service and returns its address and the
// directory holding the Maildirs (DIR/mail/USER).
func startDovecot(t *testing.T) (addr, dir string) {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	nogroup, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	// Dovecot's auth process (user dovecot) reads the passwd-file, and
	// deliveries (user nobody) write the Maildirs.
	bin, dir := dovecotDir(t)
	mail := filepath.Join(dir, "mail")
	if err := os.Mkdir(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	var uid, gid int
	fmt.Sscan(nobody.Uid, &uid)
	fmt.Sscan(nobody.Gid, &gid)
	if err := os.Chown(mail, uid, gid); err != nil {
		t.Fatal(err)
	}
	users, err := os.ReadFile(filepath.Join("dovecot", "users"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), users, 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.ParseFiles(filepath.Join("dovecot", "dovecot.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr = freeAddr(t)
	conf := filepath.Join(dir, "dovecot.conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.Execute(f, map[string]string{"Dir": dir, "Port": port(addr), "User": nobody.Username, "Group": nogroup.Name})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	runDovecot(t, bin, dir, conf, addr)
	return addr, mail
}

// dovecotDir checks that Dovecot can run here (its binary, root for its
// master, its dovecot user) and returns the binary and a temp dir for the
// test's instance, searchable by Dovecot's unprivileged processes.
func dovecotDir(t *testing.T) (bin, dir string) {
	t.Helper()
	bin = need(t, "dovecot")
	if os.Geteuid() != 0 {
		t.Fatal("the Dovecot interop test runs dovecot's master as root (as make interop does)")
	}
	if _, err := user.Lookup("dovecot"); err != nil {
		t.Fatalf("no dovecot system user (scripts/install-deps.sh dovecot creates it): %v", err)
	}
	dir = t.TempDir()
	// t.TempDir's parent is 0700: open the way down.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, dir
}

// runDovecot runs `dovecot -F -c conf` for the test and waits until addr
// accepts connections; when the test fails, its dovecot.log (log_path in
// the templates) is logged too.
func runDovecot(t *testing.T, bin, dir, conf, addr string) *peerDaemon {
	t.Helper()
	logFile := filepath.Join(dir, "dovecot.log")
	t.Cleanup(func() { // runs after startPeer's cleanup has stopped dovecot
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(logFile)
			t.Logf("dovecot.log:\n%s", b)
		}
	})
	return startPeer(t, "dovecot", addr, 20*time.Second, bin, "-F", "-c", conf)
}

// waitMaildir waits for n messages in the Maildir's new/ and returns them.
func waitMaildir(t *testing.T, maildir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		if len(files) >= n {
			var out []string
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in %s/new, want %d", len(files), maildir, n)
		}
		time.Sleep(50 * time.Millisecond) // polling the Maildir, bounded
	}
}

// TestLMTPDovecotMaildir: the route plugin sends example.org to Dovecot
// over LMTP, probing each recipient at RCPT. Carol, unknown to Dovecot, is
// refused there with 550 5.1.1; alice and bob get the message in their
// Maildirs, with Sluice's Received header on top.
func TestLMTPDovecotMaildir(t *testing.T) {
	swaks := need(t, "swaks")
	lmtp, mail := startDovecot(t)
	sink := testlib.NewSink(t, "127.0.0.1:0") // the default route; nothing may reach it
	addr, _ := startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[stage]]
name = "route"
plugin = "route"
[stage.config]
hostname = "mx.sluice.test"
probe_timeout = "10s"
[[stage.config.rules]]
match = "example.org"
transport = "lmtp:tcp:%s"
probe = true
`, lmtp))
	host, p, _ := net.SplitHostPort(addr)
	out, err := exec.Command(swaks, "--server", host, "--port", p, "--timeout", "60",
		"--from", "sender@example.net", "--to", "alice@example.org,carol@example.org,bob@example.org",
		"--header", "Subject: interop-dovecot", "--body", "hello from swaks via LMTP").CombinedOutput()
	s := string(out)
	if !strings.Contains(s, "RCPT TO:<carol@example.org>\n<** 550 5.1.1 ") {
		t.Errorf("carol not refused with 550 5.1.1 at RCPT (swaks: %v):\n%s", err, s)
	}
	for _, who := range []string{"alice", "bob"} {
		if !strings.Contains(s, "RCPT TO:<"+who+"@example.org>\n<-  250 ") {
			t.Errorf("%s not accepted at RCPT:\n%s", who, s)
		}
	}
	m := regexp.MustCompile(`<-  250 2\.0\.0 Ok: queued as (\S+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("message not queued (swaks: %v):\n%s", err, s)
	}
	id := m[1]
	for _, who := range []string{"alice", "bob"} {
		got := waitMaildir(t, filepath.Join(mail, who), 1)
		if len(got) != 1 {
			t.Fatalf("%s has %d messages, want 1", who, len(got))
		}
		msg := got[0]
		for _, want := range []string{
			"Subject: interop-dovecot",
			"Return-Path: <sender@example.net>", // Dovecot's, from Sluice's MAIL FROM
			"\tby mx.sluice.test (Sluice) with ESMTP id " + id,
			"Received: from mx.sluice.test ([127.0.0.1])", // Dovecot's, after Sluice's LHLO
			"hello from swaks via LMTP",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s's message lacks %q:\n%s", who, want, msg)
			}
		}
		// Sluice's Received header comes before the client's own headers.
		if r, subj := strings.Index(msg, "(Sluice)"), strings.Index(msg, "Subject: "); r < 0 || r > subj {
			t.Errorf("%s's message: Sluice's Received header is not above the Subject:\n%s", who, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(mail, "carol")); !os.IsNotExist(err) {
		t.Errorf("carol has a Maildir (stat: %v)", err)
	}
	if d := sink.Deliveries(); len(d) != 0 {
		t.Errorf("%d messages went to the default route instead of LMTP", len(d))
	}
}
