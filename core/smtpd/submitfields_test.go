package smtpd

import (
	"strings"
	"testing"
)

// A message an authenticated client submits gets the Date and Message-ID
// it lacks (RFC 6409 §8.2, §8.3), at the end of its header section; one
// that has them is left alone, and so is mail from a client that did not
// authenticate, which is relayed as it came.
func TestSubmissionAddsMissingDateAndMessageID(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withUsers(t, users))
	submit := func(auth bool, msg string) string {
		t.Helper()
		d := h.dialTLS("mx", clientTLS)
		d.ehlo()
		from := "a@example.org"
		if auth {
			d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
			from = "alice@example.org"
		}
		d.cmd("MAIL FROM:<"+from+">", "250 2.0.0 Roger, accepting mail from <"+from+">")
		d.cmd("RCPT TO:<bob@example.org>", "250 2.0.0 I'll make sure <bob@example.org> gets this")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.send(msg + "\r\n.")
		id := d.queued()
		body, err := h.q.Body(id)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(body), "\r\nSubject:") // below our Received
		return "Subject:" + rest
	}

	got := submit(true, "Subject: bare\r\nFrom: <alice@example.org>\r\n\r\nhi")
	date := "Date: " + testClock.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n"
	if !strings.HasPrefix(got, "Subject: bare\r\nFrom: <alice@example.org>\r\n"+date+"Message-ID: <") ||
		!strings.Contains(got, "@"+h.cfg.Hostname+">\r\n\r\nhi\r\n") {
		t.Errorf("submitted without Date and Message-ID:\n%q", got)
	}
	whole := "Subject: whole\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nmessage-id: <x@y>\r\n\r\nhi"
	if got := submit(true, whole); got != whole+"\r\n" {
		t.Errorf("submitted with both, changed:\n%q", got)
	}
	// No blank line before the body: they go above the one put there.
	if got := submit(true, "Subject: no blank\r\nbody text"); !strings.HasPrefix(got, "Subject: no blank\r\n"+date+"Message-ID: <") ||
		!strings.HasSuffix(got, ">\r\n\r\nbody text\r\n") {
		t.Errorf("submitted without a blank line:\n%q", got)
	}
	relayed := "Subject: relayed\r\n\r\nhi"
	if got := submit(false, relayed); got != relayed+"\r\n" {
		t.Errorf("unauthenticated mail changed:\n%q", got)
	}
}

// A header section that ends the data without its CRLF (BDAT need not end
// in one) gets the added fields on lines of their own.
func TestStoredTextAddsAfterUnterminatedField(t *testing.T) {
	data := []byte("From: <a@example.org>\r\nSubject: no end")
	got := string(storedText(nil, data, len(data), false, []byte("Date: x\r\n")))
	if want := "From: <a@example.org>\r\nSubject: no end\r\nDate: x\r\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
