package smtpd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// TestDataBufferReuse: DATA and BDAT are read into pooled buffers, so
// messages taken one after another on a session, a long one then short
// ones, must each be queued with exactly their own text.
func TestDataBufferReuse(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	texts := []string{
		"Subject: long\r\n\r\n" + strings.Repeat("A", 70) + "\r\n" + strings.Repeat(strings.Repeat("a", 78)+"\r\n", 40),
		"Subject: short\r\n\r\nb\r\n",
		"Subject: chunked\r\n\r\nc\r\n",
		"Subject: last\r\n\r\nd\r\n",
	}
	ids := make([]string, len(texts))
	for i, text := range texts {
		d.envelope("b@example.org")
		if i == 2 {
			d.send(fmt.Sprintf("BDAT %d LAST", len(text)))
			d.raw(text)
		} else {
			d.send("DATA")
			d.expect("354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			d.raw(text + ".\r\n")
		}
		ids[i] = d.queued()
	}
	for i, id := range ids {
		body, err := h.q.Body(id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(body), "Received: ") || !strings.HasSuffix(string(body), "\r\n"+texts[i]) ||
			strings.Count(string(body), "Subject:") != 1 {
			t.Errorf("message %d: body %q, want the trace header then %q", i, body, texts[i])
		}
	}
}

func TestIsASCIIText(t *testing.T) {
	if !isASCIIText(nil) || !isASCIIText([]byte(strings.Repeat("plain text\r\n", 10))) {
		t.Error("7-bit text reported as 8-bit")
	}
	for n := 1; n <= 20; n++ {
		for i := 0; i < n; i++ {
			b := []byte(strings.Repeat("x", n))
			b[i] = 0x80 | byte(i)
			if isASCIIText(b) {
				t.Fatalf("%d bytes with 0x%x at %d reported as 7-bit", n, b[i], i)
			}
		}
	}
}

// A message whose body follows its header fields with no empty line (a
// script's report) is not all header: the header section ends at the
// first line that is not a field, as Postfix's cleanup ends it, so the
// report is under max_header_size; and the empty line is put there, so
// what is queued has the header and body every later reader sees.
func TestMessageWithoutEmptyLine(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		l.MaxMessageSize = 1 << 20
		l.MaxHeaderSize = 1024
	}))
	var report strings.Builder
	for i := range 1400 {
		fmt.Fprintf(&report, "line %05d of a script generated report, with nothing that looks like a field\r\n", i)
	}
	fields := "From: cron@example.org\r\nSubject: nightly report\r\n"
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw(fields + report.String() + ".\r\n")
	id := d.queued()
	// BDAT too, and a text with no field at all.
	d.envelope("b@example.org")
	d.send(fmt.Sprintf("BDAT %d LAST", len("just text\r\n")))
	d.raw("just text\r\n")
	id2 := d.queued()

	body, err := h.q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(body), "\r\n\r\n")
	if !strings.HasPrefix(string(body), "Received: ") || !ok || rest != report.String() ||
		!strings.Contains(string(body), "\r\n"+fields+"\r\n"+report.String()) {
		t.Fatalf("queued %q…, want the trace header, the fields, an empty line and the report", body[:min(len(body), 400)])
	}
	body, err = h.q.Body(id2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "Received: ") || !strings.HasSuffix(string(body), "\r\n\r\njust text\r\n") {
		t.Fatalf("queued %q, want the trace header, an empty line and the text", body)
	}
}
