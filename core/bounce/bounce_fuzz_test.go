package bounce

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzBuild builds a report on a hostile original and a hostile server
// reply: the report is a multipart/report with its parts intact (RFC
// 3462), one per-recipient block per recipient (RFC 3464 §2.1) with none
// injected, and no header line of ours over 998 octets (RFC 5322 §2.1.1).
func FuzzBuild(f *testing.F) {
	f.Add([]byte("Subject: hi\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n"), "550 5.1.1 no such user", "a@example.org", "rfc822;a@example.org", "HDRS", 0, uint8(0))
	f.Add([]byte("Subject: caf\xc3\xa9\r\n\r\nbody"), "451 4.4.7 later\r\nAction: delivered", "us\xc3\xa9r@example.org", "", "FULL", 10, uint8(1))
	f.Add([]byte("no header at all"), strings.Repeat("x", 2000), "a@b", "utf-8;\xff", "", 5, uint8(2))
	f.Add([]byte("A: \xff\n\nb\n"), "250 2.0.0\x00ok", "a@b\r\nBcc: x", "x", "", 1, uint8(3))
	f.Fuzz(func(t *testing.T, orig []byte, diag, addr, orcpt, ret string, maxReturn int, action uint8) {
		actions := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
		rcpts := []Recipient{
			{Addr: addr, ORcpt: orcpt, Action: actions[int(action)%len(actions)], Diagnostic: diag, RemoteMTA: "mx.example.net"},
			{Addr: "second@example.org", Action: Failed, Diagnostic: diag},
		}
		date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		out, err := Build(Options{Hostname: "mx.sluice.test", ID: "Q1", To: "sender@example.org", EnvID: orcpt,
			Arrival: date, Date: date, Return: ret, MaxReturn: maxReturn, Original: orig, Rcpts: rcpts})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("report does not parse: %v\n%q", err, out)
		}
		for _, name := range []string{"From", "To", "Subject", "Date", "Message-Id", "Content-Type", "Mime-Version", "Auto-Submitted", "Received"} {
			if len(msg.Header[name]) != 1 {
				t.Fatalf("%d %s fields in\n%q", len(msg.Header[name]), name, out)
			}
		}
		if n := len(msg.Header); n > 11 {
			t.Fatalf("%d header fields: %v", n, msg.Header)
		}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/report" {
			t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var parts int
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part %d: %v\n%q", parts+1, err, out)
			}
			body, _ := io.ReadAll(p)
			parts++
			if parts == 2 {
				if n := bytes.Count(body, []byte("\nFinal-Recipient:")); n != len(rcpts) {
					t.Fatalf("%d Final-Recipient fields in %q", n, body)
				}
				if n := bytes.Count(body, []byte("\nAction:")); n != len(rcpts) {
					t.Fatalf("%d Action fields in %q", n, body)
				}
				for _, l := range bytes.Split(body, []byte("\r\n")) {
					if len(l) > 998 {
						t.Fatalf("status line of %d octets", len(l))
					}
				}
			}
		}
		if parts < 2 || parts > 3 {
			t.Fatalf("%d parts in\n%q", parts, out)
		}
	})
}
