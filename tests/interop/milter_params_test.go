//go:build interop

package interop

import (
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMilterMailParameters: the milters Sluice's users run get every
// MAIL parameter a client may give as SMFIC_MAIL's arguments (SIZE=,
// BODY=, SMTPUTF8, AUTH=<>, RET=, ENVID=), as Postfix passes them on,
// and none of them chokes: opendkim signs, spamass-milter and rspamd
// add their fields, and the message goes through.
func TestMilterMailParameters(t *testing.T) {
	need(t, "opendkim")
	need(t, "spamass-milter")
	spamd := needSpamd(t).addr
	rspamd := needRspamd(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // spamass-milter runs as nobody
	dkim, sa := freeAddr(t), freeAddr(t)
	startPeer(t, "opendkim", dkim, 20*time.Second, "sh", scriptPath(t, "start-opendkim.sh"), dir, port(dkim))
	startPeer(t, "spamass-milter", sa, 20*time.Second, "sh", scriptPath(t, "start-spamass-milter.sh"), dir, port(sa), port(spamd))
	stages := milterStage("opendkim", dkim) + milterStage("spamassassin", sa) +
		fmt.Sprintf("[[stage]]\nname = \"rspamd\"\nmilter = \"inet:%s\"\ntimeout = \"30s\"\n", rspamd.milter)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, sink.Addr, stages)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	c := textproto.NewConn(nc)
	step := func(cmd string, code int) {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, msg, err := c.ReadResponse(code); err != nil {
			t.Fatalf("%q: %v (%s)", cmd, err, msg)
		}
	}
	step("", 220)
	step("EHLO client.test", 250)
	step("MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME SMTPUTF8 AUTH=<> RET=HDRS ENVID=q+2B1", 250)
	step("RCPT TO:<bob@example.net>", 250)
	step("DATA", 354)
	if _, err := nc.Write(append(message("alice@example.org", "lunch on friday"), ".\r\n"...)); err != nil {
		t.Fatal(err)
	}
	step("", 250)
	step("QUIT", 221)

	got := sink.WaitN(t, 1, 30*time.Second)[0].Data
	for _, want := range []string{"DKIM-Signature: ", "d=example.org", "X-Spam-Checker-Version: SpamAssassin", "X-Rspamd-Server: ", "\r\n\r\nHello,\r\n"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}
