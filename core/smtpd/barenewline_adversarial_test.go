package smtpd

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// normalizedModel is what bare_newline = "normalize" must make of raw,
// the text a client sends after DATA's 354, written from the rules
// rather than from the reader: a line ends at each LF, the CR before it
// part of the CRLF; the data ends at the first line "." ended by CRLF
// whose line before (if any) ended by CRLF too (RFC 5321 §4.1.1.4, never
// at a bare LF: SMTP smuggling); every other line that begins with a dot
// loses it (RFC 5321 §4.5.2), but a lone dot, which then stays; every
// line is stored with CRLF. raw holds no bare CR. It returns the stored
// text and what follows the end of data, or ok false when raw has none.
func normalizedModel(raw string) (stored, rest string, ok bool) {
	var b strings.Builder
	prevCRLF := true // DATA's own line ended in CRLF
	for raw != "" {
		i := strings.IndexByte(raw, '\n')
		if i < 0 {
			return "", "", false
		}
		line, crlf := raw[:i], false
		if strings.HasSuffix(line, "\r") {
			line, crlf = line[:len(line)-1], true
		}
		raw = raw[i+1:]
		if line == "." && crlf && prevCRLF {
			return b.String(), raw, true
		}
		if line != "." {
			line = strings.TrimPrefix(line, ".")
		}
		b.WriteString(line + "\r\n")
		prevCRLF = crlf
	}
	return "", "", false
}

// smugglePieces are the pieces the random messages are made of: the
// fake ends of data of the SMTP smuggling write-ups, dots that are and
// are not stuffing, 8-bit and UTF-8 octets.
var smugglePieces = []string{
	"x", "yz", "caf\xc3\xa9", "\xff\xfe", ".", "..", "...",
	"\n", "\r\n", "\n.\n", "\n.\r\n", "\r\n.\n", "\n..\n", "\n..\r\n",
	"\r\n..\r\n", "\r\n.x", "\n.x", "\n..x", ".\n", "..\n",
	"\r\nMAIL FROM:<evil@example.org>\r\n", "\nRCPT TO:<victim@example.org>\n",
}

// randomSmuggle returns a message body of pieces that the model says has
// no end of data before the one the sender appends.
func randomSmuggle(r *rand.Rand) string {
	for {
		var b strings.Builder
		for n := r.IntN(30); n >= 0; n-- {
			b.WriteString(smugglePieces[r.IntN(len(smugglePieces))])
		}
		body := b.String()
		if _, rest, ok := normalizedModel(body + "\r\n.\r\n"); ok && rest == "" {
			return body
		}
	}
}

// Under bare_newline = "normalize", every mix of bare LFs, CRLFs and dots
// is stored as the model reads it, one message per DATA: hundreds of
// random messages go one after another over one connection, each queued
// with one reply and nothing left over for the next command. The tail
// "\r\n.\r\n" is written separately at random, so that the reader sees
// the stream cut at every kind of place.
func TestBareLFRandomSmugglingMatchesModel(t *testing.T) {
	h := start(t, withRelayLoopback) // no message rate: hundreds on one connection
	r := rand.New(rand.NewPCG(7, 20))
	d := h.dial()
	d.ehlo()
	for i := 0; i < 300; i++ {
		body := "Subject: t\r\n\r\n" + randomSmuggle(r)
		want, _, _ := normalizedModel(body + "\r\n.\r\n")
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		if cut := r.IntN(len(body) + 1); r.IntN(2) == 0 {
			d.raw(body[:cut])
			d.raw(body[cut:] + "\r\n.\r\n")
		} else {
			d.raw(body + "\r\n.\r\n")
		}
		id := d.queued()
		if got := h.stored(id); got != want {
			t.Fatalf("sent %q\nstored %q\nwant   %q", body, got, want)
		}
	}
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 300 {
		t.Fatalf("queue holds %d messages, want 300", n)
	}
}

// The fake ends of data, one by one, each with a second transaction
// behind it: one message, stored as the model has it, whose "." lines
// are content, and the reply after its 250 answers NOOP.
func TestBareLFFakeEndsOfData(t *testing.T) {
	const smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nsmuggled\r\n"
	for _, body := range []string{
		"Subject: t\r\n\r\na\n.\n" + smuggled,                // <LF>.<LF>
		"Subject: t\r\n\r\na\n.\r\n" + smuggled,              // <LF>.<CRLF>
		"Subject: t\r\n\r\na\r\n.\n" + smuggled,              // <CRLF>.<LF>
		".\nSubject: t\r\n\r\n" + smuggled,                   // ".<LF>" first in DATA
		".\r\r\n",                                            // ".<CR><CRLF>": a bare CR, below
		"Subject: t\r\n\r\na\n..\n" + smuggled,               // "..<LF>" after a bare LF
		"Subject: t\r\n\r\na\n..\r\n" + smuggled,             // "..<CRLF>" after one
		"Subject: t\r\n\r\nlast line\n\r\n",                  // a bare LF just before <CRLF>.<CRLF>
		"Subject: t\r\n\r\nlast line\n.\r\n",                 // <LF>.<CRLF> meant as the end: content
		"Subject: t\r\n\r\n\xe2\x80\x8b\n.\n\xff" + smuggled, // 8-bit octets around it
	} {
		h := start(t)
		d := h.dial()
		d.ehlo()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw(body + ".\r\n")
		if strings.Contains(body, "\r\r") {
			d.expect(bareRefused)
			d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
			continue
		}
		want, rest, ok := normalizedModel(body + ".\r\n")
		if !ok || rest != "" {
			t.Fatalf("%q: the model ends it early", body)
		}
		if body[0] == '.' {
			want = "\r\n" + want // no header field: the empty line is put first
		}
		id := d.queued()
		d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		if got := h.stored(id); got != want {
			t.Errorf("sent %q\nstored %q\nwant   %q", body, got, want)
		}
		if n := len(h.messages()); n != 1 {
			t.Errorf("%q: queue holds %d messages, want 1", body, n)
		}
	}
}

// BDAT: no dot-stuffing (RFC 3030 §2), so a bare LF and the dot after it
// in two chunks stay a line of one dot; a CR ending one chunk and an LF
// starting the next are a CRLF, not bare, even under "reject"; a last
// empty chunk after a chunk ending in CR leaves that CR bare (refused),
// after one ending in a bare LF the message is normalized.
func TestBareLFBDATBoundaries(t *testing.T) {
	type chunk struct {
		text string
		last bool
	}
	send := func(d *dialog, chunks ...chunk) {
		d.t.Helper()
		d.envelope("b@example.org")
		for _, c := range chunks {
			last := ""
			if c.last {
				last = " LAST"
			}
			d.send(fmt.Sprintf("BDAT %d%s", len(c.text), last))
			d.raw(c.text)
			if !c.last {
				d.expect("250 2.0.0 Continue")
			}
		}
	}

	h := start(t)
	d := h.dial()
	d.ehlo()
	send(d, chunk{"Subject: t\r\n\r\na\n", false}, chunk{".\r\nMAIL FROM:<evil@example.org>\r\n", true})
	if got, want := h.stored(d.queued()), "Subject: t\r\n\r\na\r\n.\r\nMAIL FROM:<evil@example.org>\r\n"; got != want {
		t.Errorf("bare LF | dot: stored %q, want %q", got, want)
	}
	send(d, chunk{"Subject: t\r\n\r\nend\n", false}, chunk{"", true})
	if got, want := h.stored(d.queued()), "Subject: t\r\n\r\nend\r\n"; got != want {
		t.Errorf("bare LF then BDAT 0 LAST: stored %q, want %q", got, want)
	}
	send(d, chunk{"Subject: t\r\n\r\nend\r", false}, chunk{"", true})
	d.expect(bareRefused)
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

	h = start(t, withBareNewline(config.BareNewlineReject))
	d = h.dial()
	d.ehlo()
	send(d, chunk{"Subject: t\r", false}, chunk{"\n\r", false}, chunk{"\nbody\r", false}, chunk{"\n", true})
	if got, want := h.stored(d.queued()), "Subject: t\r\n\r\nbody\r\n"; got != want {
		t.Errorf("CR | LF under reject: stored %q, want %q", got, want)
	}
	if strings.Contains(h.logs.String(), "bare <") {
		t.Errorf("CR | LF taken for bare:\n%s", h.logs.String())
	}
}

// max_line_length judges the stored line, its added CR counted: a line
// whose text and CRLF fill it exactly is taken when sent with a bare LF;
// one octet more is refused, as with CRLF. max_message_size counts the
// message as received, in DATA and in BDAT: exactly the limit with bare
// LFs is taken, though stored larger; one octet more is refused.
func TestBareLFLimitsAtTheBoundary(t *testing.T) {
	h := start(t) // max_line_length 1000, max_message_size 4096
	d := h.dial()
	d.ehlo()
	send := func(body string) {
		d.t.Helper()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw(body + ".\r\n")
	}
	line := strings.Repeat("x", 998)
	send("Subject: t\r\n\r\n" + line + "\n\r\n")
	if got := h.stored(d.queued()); got != "Subject: t\r\n\r\n"+line+"\r\n\r\n" {
		t.Errorf("stored %q", got)
	}
	send("Subject: t\r\n\r\n" + line + "x\n\r\n")
	d.expect("500 5.5.2 Line too long (RFC 5321 section 4.5.3.1.6)")

	head := "Subject: t\r\n\r\n"
	lines := strings.Repeat(strings.Repeat("y", 99)+"\n", (4096-len(head))/100)
	exact := head + lines + strings.Repeat("z", 4096-len(head)-len(lines)-2) + "\r\n"
	if len(exact) != 4096 {
		t.Fatalf("built %d octets", len(exact))
	}
	send(exact)
	id := d.queued()
	if got := h.stored(id); len(got) != 4096+strings.Count(exact, "\n")-strings.Count(exact, "\r\n") {
		t.Errorf("stored %d octets", len(got))
	}
	send(exact[:4094] + "z\r\n")
	d.expect("552 5.3.4 Message size exceeds fixed maximum message size")

	// BDAT counts its chunks' octets, as received, the same way.
	d.envelope("b@example.org")
	d.send("BDAT 4096 LAST")
	d.raw(exact)
	d.queued()
	d.envelope("b@example.org")
	d.send("BDAT 4097 LAST")
	d.raw(exact + "z")
	d.expect("552 5.3.4 Max message size exceeded")
}

// The CRs a bare LF adds are reserved from max_data_memory before they
// are written: a message that fits as received but not widened is
// answered 452 4.3.1 (the client tries again later), and whatever the
// answer, nothing stays reserved.
func TestBareLFWideningOverDataMemory(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		l.MaxMessageSize, l.MaxDataMemory = 20000, 16000
	}))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: t\r\n\r\n" + strings.Repeat("\n", 10000) + "\r\n.\r\n")
	d.expect("452 4.3.1 Insufficient system resources, try again later")
	if n := h.srv.dataMem.used.Load(); n != 0 {
		t.Errorf("%d octets of max_data_memory still held after the 452", n)
	}
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: t\r\n\r\n" + strings.Repeat("\n", 3000) + "\r\n.\r\n")
	d.queued()
	if n := h.srv.dataMem.used.Load(); n != 0 {
		t.Errorf("%d octets of max_data_memory still held after the 250", n)
	}
}
