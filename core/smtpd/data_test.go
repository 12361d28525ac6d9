package smtpd

import (
	"fmt"
	"strings"
	"testing"
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
