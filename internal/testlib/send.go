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
	c, err := smtp.Dial(addr)
	if err != nil {
		return "", WireError(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return "", WireError(err)
	}
	return Transact(c, from, to, data)
}

// Transact runs one mail transaction on c, a client past EHLO (and
// STARTTLS or AUTH if the caller wants them): MAIL, a RCPT per recipient,
// DATA, then QUIT. It returns what Send returns.
func Transact(c *smtp.Client, from string, to []string, data []byte) (string, error) {
	c.CommandTimeout = 30 * time.Second
	// The reply to the data waits for every stage: a 50 MiB body through
	// a body-replacing plugin under -race takes seconds alone and many
	// more on a loaded 2-core machine, so this bounds a hung server
	// only, as the stages' own timeouts (up to 120 s in the tests) do.
	c.SubmissionTimeout = 2 * time.Minute
	s, err := transact(c, from, to, data)
	return s, WireError(err)
}

func transact(c *smtp.Client, from string, to []string, data []byte) (string, error) {
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

// WireError renders an SMTP error as on the wire ("550 5.7.1 text"); any
// other error is returned as it is.
func WireError(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Errorf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return err
}

// Message builds a small RFC 5322 message with CRLF line ends.
func Message(from, to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s\r\n", from, to, subject, subject, body)
	return b.Bytes()
}
