package main

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// sendmailBody splits data, a delivered message, into its header (each
// field with its CRLF) and body, and checks that none of its lines passes
// 998 octets (RFC 5322 §2.1.1).
func sendmailBody(t *testing.T, data []byte) (header, body string) {
	t.Helper()
	for i, l := range strings.Split(string(data), "\r\n") {
		if len(l) > maxLine {
			t.Errorf("line %d has %d octets", i+1, len(l))
		}
	}
	header, body, _ = strings.Cut(string(data), "\r\n\r\n")
	return header + "\r\n", body
}

// Cron mails what a job printed: a progress meter's bare CRs, CRCRLF
// line ends (a CRLF file converted twice) and long lines. The daemon
// refuses a bare CR and a line over max_line_length, so sendmail sends
// none: a bare CR ends its line, a long Subject is folded and a long body
// line is kept intact by quoted-printable.
func TestSendmailBareCRAndLongLines(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	long := strings.Repeat("0123456789", 500) + " = é"
	subject := strings.TrimSpace(strings.Repeat("word ", 300))
	msg := "Subject: " + subject + "\nX-Token: " + strings.Repeat("t", 2100) + "\n\n" +
		"10%\r50%\r100%\ndone\r\r\n" + long + "\n"
	var stderr bytes.Buffer
	if code := run([]string{"sendmail", "-i", "root@sluice.test"}, strings.NewReader(msg), &bytes.Buffer{}, &stderr); code != exOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	header, body := sendmailBody(t, got.Data)
	unfolded := strings.ReplaceAll(header, "\r\n ", " ")
	if !strings.Contains(unfolded, "\r\nSubject: "+subject+"\r\n") {
		t.Errorf("Subject not folded at its spaces:\n%s", header)
	}
	for _, want := range []string{"\r\nMIME-Version: 1.0\r\n", "\r\nContent-Type: text/plain; charset=utf-8\r\n", "\r\nContent-Transfer-Encoding: quoted-printable\r\n"} {
		if !strings.Contains(header, want) {
			t.Errorf("missing %q in\n%s", want, header)
		}
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if want := "10%\r\n50%\r\n100%\r\ndone\r\n" + long + "\r\n"; string(decoded) != want {
		t.Errorf("body decodes to\n%q\nwant\n%q", decoded, want)
	}
}

// A multipart message cannot be made quoted-printable as a whole: its
// long line is broken with CRLF and a space, as Postfix's SMTP client
// breaks it, rather than refused by the daemon.
func TestSendmailLongLineMultipart(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	part := strings.Repeat("z", 2500)
	msg := "Subject: mp\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n" + part + "\n--b--\n"
	var stderr bytes.Buffer
	if code := run([]string{"sendmail", "-i", "root@sluice.test"}, strings.NewReader(msg), &bytes.Buffer{}, &stderr); code != exOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	header, body := sendmailBody(t, sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if strings.Contains(header, "Content-Transfer-Encoding") {
		t.Errorf("multipart message re-encoded:\n%s", header)
	}
	if !strings.Contains(body, part[:maxLine-1]+"\r\n ") {
		t.Errorf("long line not broken:\n%s", body)
	}
	if unbroken := strings.ReplaceAll(body, "\r\n ", ""); !strings.HasSuffix(unbroken, "\r\n\r\n"+part+"\r\n--b--\r\n") {
		t.Errorf("part text changed beyond the breaks:\n%s", body)
	}
}

// Lines that fit are left as they are: no MIME fields are added.
func TestSendmailShortLinesUntouched(t *testing.T) {
	in := "Subject: s\r\nFrom: a@x.test\r\nDate: d\r\nMessage-ID: <m@x.test>\r\n\r\n" + strings.Repeat("y", maxLine) + "\r\n"
	sub, err := prepare(sendmailOpts{rcpts: []string{"b@x.test"}}, parseMessage([]byte(in)), "x.test")
	if err != nil {
		t.Fatal(err)
	}
	if out := string(sub.bytes(t)); out != in {
		t.Fatalf("a line of 998 octets changed:\n%q\n%q", in, out)
	}
}

// A bare CR inside a header field is a space: ending the line there
// would end the header, and the rest of the field would become body.
func TestSendmailBareCRInField(t *testing.T) {
	m := parseMessage([]byte("Subject: a\rb\r\r\nTo: x@sluice.test\n\nbody\n"))
	if want := []string{"Subject: a b\r\n", "To: x@sluice.test\r\n"}; strings.Join(m.fields, "|") != strings.Join(want, "|") || string(m.bodyBytes(t)) != "body\r\n" {
		t.Fatalf("fields %q body %q", m.fields, m.bodyBytes(t))
	}
}
