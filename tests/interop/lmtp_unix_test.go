//go:build interop

package interop

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestLMTPDovecotUnixSocketReports: the route plugin sends example.org
// to Dovecot's LMTP unix socket (its default listener in base_dir),
// without probing at RCPT. Dovecot refuses carol, unknown to it, with
// 550 5.1.1 at LMTP RCPT; alice, who asked for NOTIFY=SUCCESS, gets the
// message. The sender hears of both, as from Postfix's LMTP client:
//   - carol's quotes Dovecot's reply as a server's (Diagnostic-Code
//     "smtp", RFC 3464 §2.3.6) with a Remote-MTA naming this host, where
//     the socket is; it came out as "X-Sluice", a reason of Sluice's own,
//     with no Remote-MTA;
//   - alice's says "delivered" (RFC 3461 §5.2.2: Dovecot's LMTP offers no
//     DSN, so Sluice answers SUCCESS for it); no report was sent at all.
func TestLMTPDovecotUnixSocketReports(t *testing.T) {
	_, mail := startDovecot(t)
	sock := filepath.Join(filepath.Dir(mail), "run", "lmtp")
	sink := testlib.NewSink(t, "127.0.0.1:0") // the default route: the report goes here
	addr, _ := startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[stage]]
name = "route"
plugin = "route"
[stage.config]
hostname = "mx.sluice.test"
[[stage.config.rules]]
match = "example.org"
transport = "lmtp:unix:%s"
`, sock))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.org", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("carol@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: interop-dovecot-unix\r\n\r\nhello over the LMTP socket\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("the message was not queued: %v", err)
	}
	_ = c.Quit()
	if got := waitMaildir(t, filepath.Join(mail, "alice"), 1); len(got) != 1 || !strings.Contains(got[0], "Subject: interop-dovecot-unix") {
		t.Fatalf("alice's Maildir: %q", got)
	}
	// Sluice may send the two in one report or in two: read one, and wait
	// for a second only when the first does not cover both.
	carol := "Final-Recipient: rfc822; carol@example.org\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.sluice.test\nDiagnostic-Code: smtp; 550 5.1.1 "
	alice := "Final-Recipient: rfc822; alice@example.org\nAction: delivered\nStatus: 2.0.0\nRemote-MTA: dns; mx.sluice.test\nDiagnostic-Code: smtp; 250 2.0.0 "
	var report string
	for n := 1; n <= 2; n++ {
		var reports []string
		for _, m := range sink.WaitN(t, n, 15*time.Second) {
			if m.From != "" || len(m.Rcpts) != 1 || m.Rcpts[0] != "sender@example.net" {
				t.Fatalf("at the default route: %+v, want only reports to sender@example.net", m)
			}
			reports = append(reports, strings.ReplaceAll(string(m.Data), "\r\n", "\n"))
		}
		if report = strings.Join(reports, "\n"); strings.Contains(report, carol) && strings.Contains(report, alice) {
			break
		}
	}
	for _, want := range []string{carol, alice} {
		if !strings.Contains(report, want) {
			t.Errorf("the reports lack %q:\n%s", want, report)
		}
	}
}
