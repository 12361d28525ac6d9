package smtp

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// Any 2xx to the final dot is success, for SMTP and for each LMTP
// recipient, as Postfix takes it. Sluice change: v0.25.1 wanted 250.
func TestDataAny2xx(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		replies := "220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n251 2.0.0 queued\r\n252 2.0.0 also\r\n"
		var wrote bytes.Buffer
		fake := faker{ReadWriter: struct {
			io.Reader
			io.Writer
		}{strings.NewReader(replies), &wrote}}
		c := NewClient(fake)
		if lmtp {
			c = NewClientLMTP(fake)
		}
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("a@b.test", nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"x@y.test", "z@y.test"} {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "Subject: x\r\n\r\nbody\r\n"); err != nil {
			t.Fatal(err)
		}
		if lmtp {
			resp, err := w.CloseWithLMTPResponse()
			if err != nil || resp["x@y.test"] == nil || resp["z@y.test"] == nil || resp["x@y.test"].Code != 251 || resp["z@y.test"].Code != 252 {
				t.Fatalf("LMTP: %v %v", resp, err)
			}
			continue
		}
		if resp, err := w.CloseWithResponse(); err != nil || resp.StatusText != "2.0.0 queued" || resp.Code != 251 {
			t.Fatalf("SMTP: %v %v", resp, err)
		}
	}
}

// MAIL, RCPT and DATA are judged by their reply's class: 2xx, 2xx and
// 3xx. Sluice change: v0.25.1 wanted 250, 25x and 354.
func TestTransactionReplyClasses(t *testing.T) {
	replies := "220 hi\r\n250 hi\r\n251 sender ok\r\n200 rcpt ok\r\n350 go\r\n250 queued\r\n"
	var wrote bytes.Buffer
	c := NewClient(faker{ReadWriter: struct {
		io.Reader
		io.Writer
	}{strings.NewReader(replies), &wrote}})
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@b.test", nil); err != nil {
		t.Fatal("MAIL:", err)
	}
	if err := c.Rcpt("x@y.test", nil); err != nil {
		t.Fatal("RCPT:", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal("DATA:", err)
	}
	if _, err := io.WriteString(w, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal("dot:", err)
	}
}
