package smtp

import (
	"errors"
	"time"
)

// EnvelopeReplies are the outcomes of the commands SendEnvelope sent.
type EnvelopeReplies struct {
	Mail error   // MAIL's error, nil when accepted
	Rcpt []error // each recipient's RCPT error, in order; nil when accepted
	// Data is DATA's error, nil when the server is ready for the message;
	// ErrNoRecipient when it was ready but nothing to send it to had been
	// accepted (the data was then ended at once).
	Data error
}

// ErrNoRecipient ends a pipelined DATA that the server accepted although it
// refused MAIL or every RCPT.
var ErrNoRecipient = errors.New("smtp: no recipient accepted, DATA ended empty")

// SendEnvelope sends MAIL FROM, one RCPT TO per recipient and DATA as one
// group (RFC 2920 §3.1) and reads their replies in order. The server must
// have advertised PIPELINING. rcptOpts is nil or has one entry per
// recipient.
//
// When every reply is positive it returns the DATA command to write the
// message to, as Data does. Otherwise the replies say what failed; when
// the server answered DATA with 354 although MAIL or every RCPT failed,
// SendEnvelope ends the data with a lone dot (RFC 2920 §3.1) and reads
// that reply too, so the session is left between transactions.
//
// A command that cannot be formed (a bad address or option) is not sent
// and gets the error; a MAIL that cannot be formed sends nothing.
func (c *Client) SendEnvelope(from string, opts *MailOptions, to []string, rcptOpts []*RcptOptions) (*DataCommand, EnvelopeReplies) {
	rep := EnvelopeReplies{Rcpt: make([]error, len(to))}
	failAll := func(err error) EnvelopeReplies {
		if rep.Mail == nil {
			rep.Mail = err
		}
		for i := range rep.Rcpt {
			if rep.Rcpt[i] == nil {
				rep.Rcpt[i] = err
			}
		}
		rep.Data = err
		return rep
	}
	if ok, _ := c.Extension("PIPELINING"); !ok {
		return nil, failAll(errors.New("smtp: server does not support PIPELINING"))
	}
	mail, err := c.mailCommand(from, opts)
	if err != nil {
		return nil, failAll(err)
	}
	lines := make([]string, 0, len(to)+2)
	lines = append(lines, mail)
	sent := make([]bool, len(to))
	for i, addr := range to {
		var o *RcptOptions
		if rcptOpts != nil {
			o = rcptOpts[i]
		}
		line, err := c.rcptCommand(addr, o)
		if err != nil {
			rep.Rcpt[i] = err
			continue
		}
		lines = append(lines, line)
		sent[i] = true
	}
	lines = append(lines, "DATA")

	c.conn.SetDeadline(time.Now().Add(c.CommandTimeout))
	defer c.conn.SetDeadline(time.Time{})
	if c.dot != nil {
		c.dot.Close()
	}
	w := c.text.W
	for _, l := range lines {
		w.WriteString(l)
		w.WriteString("\r\n")
	}
	if err := w.Flush(); err != nil {
		return nil, failAll(err)
	}

	// read reads the next reply; after a broken connection, the rest get
	// its error without waiting for each.
	var broken error
	read := func(code int) error {
		if broken != nil {
			return broken
		}
		c.conn.SetDeadline(time.Now().Add(c.CommandTimeout))
		_, _, err := c.readResponse(code)
		if _, ok := err.(*SMTPError); err != nil && !ok {
			broken = err
		}
		return err
	}
	if rep.Mail = read(mailCode); rep.Mail == nil {
		c.rcpts = nil
	}
	accepted := 0
	for i, addr := range to {
		if !sent[i] {
			continue
		}
		if rep.Rcpt[i] = read(rcptCode); rep.Rcpt[i] == nil && rep.Mail == nil {
			c.rcpts = append(c.rcpts, addr)
			accepted++
		}
	}
	if rep.Data = read(dataCode); rep.Data != nil {
		return nil, rep
	}
	if rep.Mail != nil || accepted == 0 {
		rep.Data = ErrNoRecipient
		w.WriteString(".\r\n")
		if err := w.Flush(); err != nil {
			rep.Data = err
			return nil, rep
		}
		if err := read(250); err != nil {
			if _, ok := err.(*SMTPError); !ok {
				rep.Data = err
			}
		}
		return nil, rep
	}
	c.dot = &dotWriter{w: c.text.W, client: c}
	return &DataCommand{client: c, wc: c.dot}, rep
}
