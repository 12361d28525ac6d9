//go:build interop

package interop

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestPostgrey: the policy plugin asking Debian's postgrey (scripts/
// install-deps.sh interop), as Postfix's check_policy_service does.
// postgrey runs in the foreground on a loopback port with its database,
// whitelists (empty: no client or recipient is spared) and pid file in
// the test's directory, as the test's own user, greylisting for one
// second, the least that greylists at all (--delay=0 takes the first
// attempt). The first attempt gets postgrey's DEFER_IF_PERMIT as
// Postfix words it: 450, the 4.2.0 postgrey gives a client that sends
// etrn_domain, "Recipient address rejected"; the client's retries are
// deferred too until postgrey's clock has moved a second on, then the
// message goes through with the X-Greylist field postgrey PREPENDs, at
// the top.
func TestPostgrey(t *testing.T) {
	bin := need(t, "postgrey")
	dir := t.TempDir()
	for _, f := range []string{"whitelist_clients", "whitelist_recipients"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Net::Server drops privileges to --user, postgrey by default,
	// which could not write the test's directory.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	group, err := user.LookupGroupId(me.Gid)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startPeer(t, "postgrey", addr, 30*time.Second, bin,
		"--inet="+addr, "--dbdir="+dir, "--pidfile="+filepath.Join(dir, "postgrey.pid"),
		"--user="+me.Username, "--group="+group.Name, "--delay=1", "--hostname=greylist.test",
		"--whitelist-clients="+filepath.Join(dir, "whitelist_clients"),
		"--whitelist-recipients="+filepath.Join(dir, "whitelist_recipients"),
		"--auto-whitelist-clients=0")

	sink := testlib.NewSink(t, "127.0.0.1:0")
	// The test's client is on loopback, in startSluiceWith's
	// relay_networks, which the stage spares by default.
	smtpAddr, _ := startSluiceWith(t, sink.Addr, `[[stage]]
name   = "postgrey"
plugin = "policy"
[stage.config]
server             = "inet:`+addr+`"
skip_relay_clients = false
`)
	from, to := "alice@example.org", []string{"bob@example.net"}
	msg := message(from, "greylisted")
	_, err = testlib.Send(smtpAddr, from, to, msg)
	want := "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html"
	if err == nil || err.Error() != want {
		t.Fatalf("first attempt: %v, want %s", err, want)
	}
	// The client tries again, as a sender's MTA would, sooner than any
	// would: each is an early retry until postgrey's clock has moved a
	// second on.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = testlib.Send(smtpAddr, from, to, msg)
		if err == nil {
			break
		}
		if err.Error() != want || time.Now().After(deadline) {
			t.Fatalf("retry: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // a client's retry interval, bounded by deadline
	}
	got := string(sink.WaitN(t, 1, 30*time.Second)[0].Data)
	field := unfolded(got, "X-Greylist")
	if !strings.HasPrefix(got, "X-Greylist: delayed ") || !strings.Contains(field, " seconds by postgrey-") || !strings.Contains(field, " at greylist.test; ") {
		t.Fatalf("the delivered message has no X-Greylist field from postgrey at the top:\n%s", got)
	}
	if n := strings.Count(got, "X-Greylist:"); n != 1 {
		t.Errorf("%d X-Greylist fields", n)
	}
	// The triplet passed: the next message is not delayed, and gets no
	// field (postgrey adds it after a delay only).
	if _, err := testlib.Send(smtpAddr, from, to, message(from, "again")); err != nil {
		t.Fatalf("the next message: %v", err)
	}
	if got := string(sink.WaitN(t, 2, 30*time.Second)[1].Data); strings.Contains(got, "X-Greylist:") {
		t.Errorf("the next message has an X-Greylist field:\n%s", got)
	}
}
