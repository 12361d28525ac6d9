package smtpd

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

func TestEHLOCapabilities(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.send("EHLO client.test")
	d.expect(
		"250-mx.test Hello client.test",
		"250-PIPELINING",
		"250-8BITMIME",
		"250-ENHANCEDSTATUSCODES",
		"250-CHUNKING",
		"250-SMTPUTF8",
		"250-DSN",
		"250-SIZE 4096",
		"250 LIMITS RCPTMAX=3 MAILMAX=100",
	)
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()
}

func TestUnknownCommand(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.cmd("XYZW", "500 5.5.2 Syntax errors, XYZW command unrecognized")
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

func TestMailBeforeHelo(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
}

func TestNestedMail(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("MAIL FROM:<c@example.org>", "503 5.5.1 Nested MAIL command")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<c@example.org>", "250 2.0.0 Roger, accepting mail from <c@example.org>")
}

// RFC 2920: commands sent in one write are answered in order.
func TestPipelining(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.send("MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>", "DATA")
	d.expect(
		"250 2.0.0 Roger, accepting mail from <a@example.org>",
		"250 2.0.0 I'll make sure <b@example.org> gets this",
		"250 2.0.0 I'll make sure <c@example.org> gets this",
		"354 Go ahead. End your data with <CR><LF>.<CR><LF>",
	)
	d.raw("Subject: pipelined\r\n\r\nhello\r\n.\r\n")
	id := d.queued()
	m, _ := h.only()
	if m.ID != id || len(m.Rcpts) != 2 || m.Rcpts[1].Addr != "c@example.org" {
		t.Fatalf("queued %+v, want id %s for two recipients", m, id)
	}
}

// The envelope carries what the client said, DSN parameters included
// (RFC 3461), and the message is byte-identical after the Received header.
func TestEnvelopeAndBody(t *testing.T) {
	h := start(t)
	c, err := smtp.Dial(h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	err = c.Mail("a@example.org", &smtp.MailOptions{Body: smtp.Body8BitMIME, Return: smtp.DSNReturnHeaders, EnvelopeID: "env-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("b@example.org", &smtp.RcptOptions{
		Notify:                []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822,
		OriginalRecipient:     "b@example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Leading dots (stuffed by the client), 8-bit text, an empty line.
	msg := "From: a@example.org\r\nSubject: caf\xc3\xa9\r\n\r\n.leading dot\r\n..two\r\n\r\nend\r\n"
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	m, body := h.only()
	if want := "2.0.0 Ok: queued as " + m.ID; resp.StatusText != want {
		t.Errorf("DATA reply %q, want %q", resp.StatusText, want)
	}
	want := &envelope.Message{
		ID:       m.ID,
		From:     "a@example.org",
		Rcpts:    []envelope.Recipient{{Addr: "b@example.org", Status: envelope.RcptPending, Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "RFC822;b@example.org"}},
		Received: testClock,
		Size:     int64(len(body)),
		ClientIP: "127.0.0.1",
		Helo:     "client.test",
		Listener: "mx",
		Body8Bit: true,
		DSNRet:   "HDRS",
		DSNEnvID: "env-1",
		State:    envelope.StateActive,
	}
	m.NextAttempt = want.NextAttempt
	m.Received = m.Received.UTC()
	if !reflect.DeepEqual(m, want) {
		t.Errorf("envelope\n got %+v\nwant %+v", m, want)
	}
	received := "Received: from client.test ([127.0.0.1])\r\n" +
		"\tby mx.test (Sluice) with ESMTP id " + m.ID + "\r\n" +
		"\tfor <b@example.org>; Tue, 04 Mar 2025 05:06:07 +0000\r\n"
	if !bytes.HasPrefix(body, []byte(received)) {
		t.Fatalf("body does not start with the Received header:\n%q", body)
	}
	if rest := string(body[len(received):]); rest != msg {
		t.Errorf("message after Received\n got %q\nwant %q", rest, msg)
	}
	if !strings.Contains(h.logs.String(), "msg=message id="+m.ID) {
		t.Errorf("no transaction log line for %s:\n%s", m.ID, h.logs)
	}
}

func TestNullSender(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: bounce\r\n\r\n.\r\n")
	d.queued()
	if m, _ := h.only(); m.From != "" {
		t.Errorf("From = %q, want the null sender", m.From)
	}
}

func TestEnqueueFailure(t *testing.T) {
	h := start(t)
	h.q.fail = errors.New("disk full")
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbody\r\n.\r\n")
	d.expect("451 4.3.0 Temporary local problem, please try again later")
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
	// The session goes on: the client may try again.
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if !strings.Contains(h.logs.String(), "disk full") {
		t.Errorf("queue error not logged:\n%s", h.logs)
	}
}

// The same recipient twice is kept once, as Postfix's duplicate filter
// does: the client hears 250 each time, the queue (and the next hop, or an
// LMTP mailbox) gets one copy. Domains compare without case, local parts
// exactly (RFC 5321 §2.4). Duplicates do not count towards max_recipients.
func TestDuplicateRecipientsKeptOnce(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("dup@example.org", "dup@example.org", "dup@EXAMPLE.ORG", "Dup@example.org", "other@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: dup\r\n\r\nhi\r\n.\r\n")
	d.queued()
	m, _ := h.only()
	var got []string
	for _, r := range m.Rcpts {
		got = append(got, r.Addr)
	}
	if strings.Join(got, ",") != "dup@example.org,Dup@example.org,other@example.org" {
		t.Fatalf("recipients %v, want each once (local parts are case-sensitive)", got)
	}
}

// RCPT TO:<Postmaster> without a domain is accepted, as RFC 5321 §4.5.1
// requires, and goes to the postmaster of the first local domain; a
// session greeted with HELO is stamped "with SMTP" (RFC 3848), not ESMTP.
func TestPostmasterAndHELOSession(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.cmd("HELO client.test", "250 mx.test Hello client.test")
	d.cmd("MAIL FROM:<a@example.net>", "250 2.0.0 Roger, accepting mail from <a@example.net>")
	d.cmd("RCPT TO:<Postmaster>", "250 2.0.0 I'll make sure <postmaster> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: hi\r\n\r\nhi\r\n.\r\n")
	d.queued()
	m, body := h.only()
	if len(m.Rcpts) != 1 || m.Rcpts[0].Addr != "postmaster@example.org" {
		t.Fatalf("recipients %+v", m.Rcpts)
	}
	if !strings.Contains(string(body), "(Sluice) with SMTP id ") {
		t.Fatalf("Received after HELO:\n%s", body)
	}
}

// Addresses whose local part needs quoting are compared in the form they
// are stored in ("a b"@example.org), so a duplicate is kept once too.
func TestDuplicateQuotedRecipientsKeptOnce(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for _, rcpt := range []string{`"a b"@example.org`, `"a b"@example.org`, `"a b"@EXAMPLE.org`} {
		d.cmd("RCPT TO:<"+rcpt+">", "250 2.0.0 I'll make sure <"+rcpt+"> gets this")
	}
	for range 2 {
		d.cmd("RCPT TO:<x.@example.org>", `250 2.0.0 I'll make sure <"x."@example.org> gets this`)
	}
	d.cmd(`RCPT TO:<"x."@example.org>`, `250 2.0.0 I'll make sure <"x."@example.org> gets this`)
	// A quoted local part that needs no quotes is the same mailbox.
	d.cmd(`RCPT TO:<"b"@example.org>`, "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	// A different local part is another recipient (RFC 5321 §2.4).
	d.cmd(`RCPT TO:<"A b"@example.org>`, "452 4.5.3 Too many recipients")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: dup\r\n\r\nhi\r\n.\r\n")
	d.queued()
	m, _ := h.only()
	var got []string
	for _, r := range m.Rcpts {
		got = append(got, r.Addr)
	}
	if strings.Join(got, ",") != `"a b"@example.org,"x."@example.org,b@example.org` {
		t.Fatalf("recipients %q, want each once", got)
	}
}
