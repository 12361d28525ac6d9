package testlib

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-smtp"
)

// Send submits one message with a go-smtp client and returns the final
// reply's message text (e.g. "Ok: queued as ID") or an error; an SMTP error
// reads as on the wire: "550 5.7.1 text".
func Send(addr, from string, to []string, data []byte) (string, error) {
	s, err := send(addr, from, to, data)
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return s, fmt.Errorf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return s, err
}

func send(addr, from string, to []string, data []byte) (string, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("client.test"); err != nil {
		return "", err
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(data); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	_ = c.Quit()
	return resp.StatusText, nil
}

// Message builds a small RFC 5322 message with CRLF line ends.
func Message(from, to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s\r\n", from, to, subject, subject, body)
	return b.Bytes()
}
