package smtp_test

import (
	"bytes"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestDataRoundTrip sends messages full of leading dots and odd line
// ends through the client's DATA writer to the server's DATA reader: a
// message of CRLF lines arrives as sent, and the bare LFs of the others
// arrive as CRLF.
func TestDataRoundTrip(t *testing.T) {
	be, s, c, _ := testServer(t)
	defer s.Close()
	cl := smtp.NewClient(c)
	defer cl.Close()

	rng := rand.New(rand.NewSource(5))
	msgs := []string{
		"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.x\r\n",
		".starts with a dot\r\n",
		"no final line end",
		"ends with a dot\r\n.",
		"bare\nline\nfeeds\n.\n",
		strings.Repeat("x", 1900) + "\r\n", // near the server's line limit
		strings.Repeat(".\r\n", 1000),
	}
	for i := 0; i < 50; i++ {
		var sb strings.Builder
		for j := rng.Intn(200); j > 0; j-- {
			sb.WriteString([]string{".", "..", "a", "bc", "\r\n", "\r\n.", "\n"}[rng.Intn(7)])
		}
		msgs = append(msgs, sb.String())
	}
	for i, msg := range msgs {
		if err := cl.Mail("root@nsa.gov", nil); err != nil {
			t.Fatal(err)
		}
		if err := cl.Rcpt("root@gchq.gov.uk", nil); err != nil {
			t.Fatal(err)
		}
		w, err := cl.Data()
		if err != nil {
			t.Fatal(err)
		}
		// Written in two pieces, the cut inside the message.
		cut := len(msg) / 3
		if _, err := io.WriteString(w, msg[:cut]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, msg[cut:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
		if !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		if len(be.anonmsgs) != i+1 {
			t.Fatalf("message %d: server has %d messages", i, len(be.anonmsgs))
		}
		if got := be.anonmsgs[i].Data; !bytes.Equal(got, []byte(want)) {
			t.Fatalf("message %d: server read %q, want %q", i, got, want)
		}
	}
}

// TestDataLeftOpen: a command issued while the DATA writer is open ends
// the data first, as with textproto's DotWriter.
func TestDataLeftOpen(t *testing.T) {
	be, s, c, _ := testServer(t)
	defer s.Close()
	cl := smtp.NewClient(c)
	defer cl.Close()
	cl.CommandTimeout = 10 * time.Second // a data left open would hang Noop

	if err := cl.Mail("root@nsa.gov", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("root@gchq.gov.uk", nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "left open")
	// The 250 for the data is read as Noop's reply.
	if err := cl.Noop(); err != nil {
		t.Fatal(err)
	}
	if len(be.anonmsgs) != 1 || string(be.anonmsgs[0].Data) != "left open\r\n" {
		t.Fatalf("server has %d messages", len(be.anonmsgs))
	}
	if err := cl.Noop(); err != nil {
		t.Fatal(err)
	}
}

// writeCounter counts the writes made to a connection.
type writeCounter struct {
	net.Conn
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Conn.Write(p)
}

// TestDataOneWrite: a message of a few KiB and its final dot reach the
// connection in one write.
func TestDataOneWrite(t *testing.T) {
	be, s, c, _ := testServer(t)
	defer s.Close()
	wc := &writeCounter{Conn: c}
	cl := smtp.NewClient(wc)
	defer cl.Close()

	if err := cl.Mail("root@nsa.gov", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("root@gchq.gov.uk", nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 60) // 4800 bytes
	before := wc.writes
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := wc.writes - before; n != 1 {
		t.Errorf("message and dot took %d writes, want 1", n)
	}
	if len(be.anonmsgs) != 1 || string(be.anonmsgs[0].Data) != msg {
		t.Error("the server did not get the message")
	}
}
