package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A bare user name in an address field is qualified where it stands, the
// rest of the field kept byte for byte, as Postfix's cleanup rewrites
// locally submitted headers (append_at_myorigin).
func TestSendmailQualifyAddrList(t *testing.T) {
	for in, want := range map[string]string{
		" root (Cron Daemon)\r\n":                  " root@mx.test (Cron Daemon)\r\n",
		" root\r\n":                                " root@mx.test\r\n",
		` "Cron Daemon" <root>` + "\r\n":           ` "Cron Daemon" <root@mx.test>` + "\r\n",
		" Cron <root>, bob@x.test,\r\n\tcarol\r\n": " Cron <root@mx.test>, bob@x.test,\r\n\tcarol@mx.test\r\n",
		` "Smith, Alice" <alice>, "a b"` + "\r\n":  ` "Smith, Alice" <alice@mx.test>, "a b"@mx.test` + "\r\n",
		" =?utf-8?q?Jos=C3=A9?= < jose >\r\n":      " =?utf-8?q?Jos=C3=A9?= < jose@mx.test >\r\n",
		" team: a, b@x.test;, c\r\n":               " team: a@mx.test, b@x.test;, c@mx.test\r\n",
		" undisclosed-recipients:;\r\n":            " undisclosed-recipients:;\r\n",
		" bob@x.test (Bob)\r\n":                    " bob@x.test (Bob)\r\n",
		" Bob <bob@x.test> (work), <>\r\n":         " Bob <bob@x.test> (work), <>\r\n",
		" <@relay.test:bob@x.test>\r\n":            " <@relay.test:bob@x.test>\r\n",
		" John Smith\r\n":                          " John Smith\r\n", // no address to qualify
		" \"unclosed <root>\r\n":                   " \"unclosed <root>\r\n",
		" (comment <root>) root\r\n":               " (comment <root>) root@mx.test\r\n",
		" first.last\r\n":                          " first.last@mx.test\r\n",
		"\r\n":                                     "\r\n",
	} {
		if got := qualifyAddrList(in, "mx.test"); got != want {
			t.Errorf("qualifyAddrList(%q) = %q, want %q", in, got, want)
		}
	}
}

// Cron writes "From: root (Cron Daemon)" and "To: root"; mutt passes
// its recipients as arguments and leaves Bcc in the message for the MTA
// to remove. The message went out with a From without a domain, which
// receivers refuse, and with the Bcc list shown to every recipient.
// Postfix's sendmail qualifies the names and drops Bcc, -t or not.
func TestSendmailHeaderAddressesAndBcc(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	msg := "From: root (Cron Daemon)\nTo: root, Bob <bob@remote.test>\nCc: \"Ops\" <ops>\n" +
		"Bcc: secret@remote.test\nResent-Bcc: also@remote.test\nReply-To: admin\nSubject: Cron <root@h> job\n\nout\n"
	var stderr bytes.Buffer
	if code := run([]string{"sendmail", "-oi", "-oem", "--", "bob@remote.test", "secret@remote.test"}, strings.NewReader(msg), &bytes.Buffer{}, &stderr); code != exOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if !slices.Equal(got.Rcpts, []string{"bob@remote.test", "secret@remote.test"}) {
		t.Errorf("rcpts %v: without -t only the arguments", got.Rcpts)
	}
	header, _, _ := strings.Cut(string(got.Data), "\r\n\r\n")
	for _, want := range []string{
		"\r\nFrom: root@mx.sluice.test (Cron Daemon)\r\n",
		"\r\nTo: root@mx.sluice.test, Bob <bob@remote.test>\r\n",
		"\r\nCc: \"Ops\" <ops@mx.sluice.test>\r\n",
		"\r\nReply-To: admin@mx.sluice.test\r\n",
		"\r\nSubject: Cron <root@h> job\r\n",
	} {
		if !strings.Contains(header, want) {
			t.Errorf("missing %q in\n%s", want, header)
		}
	}
	if strings.Contains(strings.ToLower(header), "bcc:") {
		t.Errorf("Bcc delivered:\n%s", header)
	}
}
