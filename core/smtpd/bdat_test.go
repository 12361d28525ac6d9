package smtpd

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// RFC 3030: BDAT chunks are counted octets, not dot-stuffed; the message is
// kept as sent. Its lines still end in CRLF (no BINARYMIME is offered): a
// bare CR is refused and a bare LF normalized or refused as in DATA
// (barenewline_test.go).

func TestBDATSingleChunk(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	msg := "Subject: chunked\r\n\r\n.a dot\r\n..two dots\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST", len(msg)))
	d.raw(msg)
	id := d.queued()
	m, body := h.only()
	if m.ID != id {
		t.Errorf("queued %s, reply said %s", m.ID, id)
	}
	if !strings.HasSuffix(string(body), "\r\n"+msg) || !strings.HasPrefix(string(body), "Received: ") {
		t.Errorf("body %q, want Received then %q", body, msg)
	}
}

func TestBDATMultiChunk(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	parts := []string{"Subject: three chunks\r\n", "\r\nfirst half, ", "second half\r\n"}
	d.send(fmt.Sprintf("BDAT %d", len(parts[0])))
	d.raw(parts[0])
	d.expect("250 2.0.0 Continue")
	d.send(fmt.Sprintf("BDAT %d", len(parts[1])))
	d.raw(parts[1])
	d.expect("250 2.0.0 Continue")
	d.send(fmt.Sprintf("BDAT %d LAST", len(parts[2])))
	d.raw(parts[2])
	d.queued()
	_, body := h.only()
	if want := strings.Join(parts, ""); !strings.HasSuffix(string(body), "\r\n"+want) {
		t.Errorf("body %q, want it to end with %q", body, want)
	}
	// A new transaction can follow on the same connection.
	d.envelope("c@example.org")
	d.cmd("BDAT 0 LAST", "250 2.0.0 Ok: queued as *")
	if n := len(h.messages()); n != 2 {
		t.Errorf("queue holds %d messages, want 2", n)
	}
}

func TestBDATResetAborts(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.send("BDAT 5")
	d.raw("hello")
	d.expect("250 2.0.0 Continue")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages after RSET", n)
	}
}

// go-smtp reads a chunk with io.Copy, for which a closed connection is a
// complete chunk; a client gone mid-chunk must not get a truncated message
// queued.
func TestBDATTruncatedByDisconnect(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.send("BDAT 100 LAST")
	d.raw("only ten b")
	if err := d.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	d.expect("421 4.4.0 Connection error, sorry")
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}

// A bare CR in BDAT is refused with 550 5.5.2, as in DATA, whichever
// chunk holds it, a CR ending one chunk and an LF starting the next being
// a CRLF; nothing is queued, and the session goes on.
func TestBDATBareLineEnds(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	for _, chunks := range [][]string{
		{"Subject: x\r\n\r\nbare\rCR\r\n"},
		{"Subject: x\r\n\r\n<CR>", "\r.\rsmuggled\r\n"},
		{"Subject: x\r\n\r\nends in CR\r"},
	} {
		d.envelope("b@example.org")
		for i, c := range chunks {
			last := ""
			if i == len(chunks)-1 {
				last = " LAST"
			}
			d.send(fmt.Sprintf("BDAT %d%s", len(c), last))
			d.raw(c)
			if last == "" {
				d.expect("250 2.0.0 Continue")
			}
		}
		d.expect("550 5.5.2*")
	}
	// A CRLF split across chunks is no bare line end.
	d.envelope("b@example.org")
	first := "Subject: split\r\n\r\nx\r"
	d.send(fmt.Sprintf("BDAT %d", len(first)))
	d.raw(first)
	d.expect("250 2.0.0 Continue")
	d.send("BDAT 1 LAST")
	d.raw("\n")
	d.queued()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("%d queued, want only the last", n)
	}
}
