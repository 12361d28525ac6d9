package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// max_message_size is 4096 in the base config.

func TestSizeDeclared(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	// RFC 1870 §6.3; go-smtp refuses a declared SIZE itself.
	d.cmd("MAIL FROM:<a@example.org> SIZE=4097", "552 5.3.4 Max message size exceeded")
	// Past 32 bits it is still a size (RFC 1870 §3: 1*20DIGIT), too large.
	d.cmd("MAIL FROM:<a@example.org> SIZE=5000000000", "552 5.3.4 Max message size exceeded")
	d.cmd("MAIL FROM:<a@example.org> SIZE=4096", "250 2.0.0 Roger, accepting mail from <a@example.org>")
}

func TestSizeExceededInData(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	line := strings.Repeat("x", 98) + "\r\n"
	d.raw("Subject: big\r\n\r\n" + strings.Repeat(line, 50) + ".\r\n")
	d.expect("552 5.3.4 Message size exceeds fixed maximum message size")
	// The whole DATA was consumed: the session is in step.
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}

func TestSizeExceededInBDAT(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	line := strings.Repeat("x", 98) + "\r\n"
	d.send("BDAT 3000")
	d.raw(strings.Repeat(line, 30))
	d.expect("250 2.0.0 Continue")
	d.send("BDAT 2000 LAST")
	d.raw(strings.Repeat(line, 20))
	d.expect("552 5.3.4 Max message size exceeded")
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}

// RFC 5321 §4.5.3.1.10; max_recipients is 3 in the base config.
func TestTooManyRecipients(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("r1@example.org", "r2@example.org", "r3@example.org")
	d.cmd("RCPT TO:<r4@example.org>", "452 4.5.3 Too many recipients")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	if m, _ := h.only(); len(m.Rcpts) != 3 {
		t.Errorf("%d recipients queued, want 3", len(m.Rcpts))
	}
}

// max_line_length is 1000 octets with the CRLF (RFC 5321 §4.5.3.1.6). A
// longer line in DATA or BDAT refuses the message once it is all in; the
// session goes on (a client told 5xx mid-message, its connection closed,
// bounced the message and learned nothing of why).
func TestLineTooLongInData(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n" + strings.Repeat("a", 998) + "\r\n") // exactly the limit
	d.raw(strings.Repeat("b", 999) + "\r\nmore\r\n.\r\n")
	d.expect("500 5.5.2 Line too long (RFC 5321 section 4.5.3.1.6)")
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	d.envelope("b@example.org")
	d.send("BDAT 1013 LAST")
	d.raw("Subject: y\r\n" + strings.Repeat("c", 999) + "\r\n")
	d.expect("500 5.5.2 Line too long (RFC 5321 section 4.5.3.1.6)")
	// At the limit, it goes through.
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: z\r\n\r\n" + strings.Repeat("a", 998) + "\r\n.\r\n")
	d.queued()
	if n := len(h.messages()); n != 1 {
		t.Errorf("queue holds %d messages, want the one within the limit", n)
	}
}

func TestLineTooLongCommand(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	// go-smtp answers an overlong command line itself, and closes.
	d.send("NOOP " + strings.Repeat("x", 1000))
	d.expect("500 5.5.2 Too long line, closing connection")
	d.expectClosed()
}

// RFC 5321 §4.5.3.2.6: a client that stops sending in DATA is dropped after
// data_timeout. The timeout is the server's; nothing here sleeps. The
// transaction is one msg=message line, with its reply: the close's reset
// used to log and count it a second time, as aborted.
func TestDataTimeout(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.DataTimeout.Duration = 200 * time.Millisecond }))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: slow\r\n\r\nand then nothing")
	d.expect("421 4.4.2 Timeout waiting for data, closing connection")
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
	waitLog(t, h, `msg=message`)
	_ = h.srv.Shutdown(t.Context()) // every session over: its log lines written
	if n := strings.Count(h.logs.String(), "msg=message"); n != 1 || strings.Contains(h.logs.String(), "result=aborted") {
		t.Errorf("%d msg=message lines:\n%s", n, h.logs.String())
	}
}

// RFC 5321 §4.5.3.2.7: command_timeout between commands (go-smtp's reply).
// The EHLO goes with the connection, before the greeting: read after
// it, it would have 200 ms to follow the greeting, a bound a loaded
// machine can miss; the wait tested is the one after EHLO's reply.
func TestCommandTimeout(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.CommandTimeout.Duration = 200 * time.Millisecond }))
	d := dialConn(t, h.addr("mx"))
	d.send("EHLO client.test")
	d.expect("220 mx.test ESMTP")
	for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
		if !strings.HasPrefix(l, "250-") {
			t.Fatalf("EHLO reply %q", l)
		}
	}
	d.expect("421 4.4.2 Idle timeout, bye bye")
	d.expectClosed()
}

func TestMaxConnections(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxConnections = 1 }))
	first := h.dial()
	second := dialConn(t, h.addr("mx"))
	second.expect("421 4.4.5 Too many connections, try again later")
	second.expectClosed()
	first.cmd("QUIT", "221 2.0.0 Bye")
	first.expectClosed()
}

// A BDAT chunk that stops coming is dropped after data_timeout, as DATA
// is, not after command_timeout from its BDAT line (RFC 5321 §4.5.3.2.6
// bounds progress on the message).
func TestBDATDataTimeout(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		l.DataTimeout.Duration = 200 * time.Millisecond
		l.CommandTimeout.Duration = time.Minute
	}))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.send("BDAT 100 LAST")
	d.raw("Subject: slow\r\n\r\nand then nothing")
	d.expect("421 4.4.2 Timeout waiting for data, closing connection")
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}

// Between BDAT chunks the server waits for a command line, and
// command_timeout bounds that wait, as Postfix's smtpd_timeout does; only
// a chunk's octets, once its BDAT line is in, are bounded by
// data_timeout. Before, the session's last read of a chunk could set
// data_timeout after go-smtp had set command_timeout for the next line, so
// a client that paused between chunks longer than data_timeout was
// dropped.
func TestBDATNextCommandTimeout(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		l.DataTimeout.Duration = 100 * time.Millisecond
		l.CommandTimeout.Duration = 5 * time.Second
	}))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	// Each chunk goes in one write with its BDAT line: sent apart, the
	// chunk had data_timeout (100 ms) to follow the line, which a loaded
	// machine may take to run the test again between the two writes.
	d.raw("BDAT 18\r\nSubject: pause\r\n\r\n")
	d.expect("250 2.0.0 Continue")
	d.expectSilence(5 * 100 * time.Millisecond)
	d.raw("BDAT 6 LAST\r\nbody\r\n")
	d.queued()
	// The octets of a chunk keep data_timeout.
	d.envelope("b@example.org")
	d.send("BDAT 100 LAST")
	d.raw("Subject: slow\r\n")
	d.expect("421 4.4.2 Timeout waiting for data, closing connection")
	d.expectClosed()
	if n := len(h.messages()); n != 1 {
		t.Errorf("queue holds %d messages, want 1", n)
	}
}
