package delivery

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

const mixed8bit = "From: a@origin.test\r\n" +
	"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"grüße été = ok\r\n" +
	".a line with a leading dot\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAw==\r\n" +
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"\r\n" +
	"caf\xe9\r\n" +
	"--b1--\r\n" +
	"epilogue\r\n"

// RFC 6152 §3: a message with 8-bit text goes to a server without
// 8BITMIME in 7 bits: each 8-bit leaf becomes quoted-printable, the rest
// (header, preamble, delimiters, a base64 part, the epilogue) stays.
func TestDowngrade8bitMultipart(t *testing.T) {
	out := string(downgrade8bit([]byte(mixed8bit)))
	if !ascii(out) {
		t.Fatalf("still 8-bit:\n%s", out)
	}
	for _, keep := range []string{
		"From: a@origin.test\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n",
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1\r\n",
		"--b1--\r\nepilogue\r\n",
		// The attached message, its body converted, is 7bit now (RFC
		// 2045 §6.4).
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: inner\r\n",
	} {
		if !strings.Contains(out, keep) {
			t.Errorf("lost %q:\n%s", keep, out)
		}
	}
	text := part(t, out, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	if got := decodeQP(t, text); got != "grüße été = ok\r\n.a line with a leading dot" {
		t.Errorf("text part decodes to %q", got)
	}
	inner := part(t, out, "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	if got := decodeQP(t, inner); got != "caf\xe9" {
		t.Errorf("attached message's text decodes to %q", got)
	}
}

// What needs no conversion, or has none, goes as it is: 7-bit mail, mail
// without MIME-Version (no MIME message), base64.
func TestDowngrade8bitUnchanged(t *testing.T) {
	for _, m := range []string{
		"Subject: x\r\nMIME-Version: 1.0\r\n\r\nplain ascii\r\n",
		"Subject: x\r\n\r\nno MIME, caf\xc3\xa9\r\n",
		"Subject: x\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: binary\r\n\r\ncaf\xc3\xa9\r\n",
	} {
		if got := string(downgrade8bit([]byte(m))); got != m {
			t.Errorf("%q became %q", m, got)
		}
	}
}

// A MIME message without a Content-Transfer-Encoding field gets one.
func TestDowngrade8bitAddsEncoding(t *testing.T) {
	m := "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\xc3\xa9\r\n"
	want := "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
	if got := string(downgrade8bit([]byte(m))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Delivery to a server without 8BITMIME (smtp-sink -8 advertises none)
// sends the converted message; a server with it gets the octets as they
// came. Sluice sent 8-bit text unchanged to both.
func TestNo8BitMIMEServerGetsSevenBits(t *testing.T) {
	for _, offer := range []bool{false, true} {
		h := newHarness(t)
		s := h.sinkAt("127.0.0.1", sinkOptions{no8BitMIME: !offer})
		h.opt.Config.Relay = s.addr
		h.start()
		id := h.enqueueBody(msg("s@origin.test", "r@dest.test"), mixed8bit)
		got := waitMsg(t, s)
		if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
			t.Fatalf("8BITMIME offered %v: %+v", offer, r)
		}
		switch {
		case offer && got.body != mixed8bit:
			t.Errorf("8BITMIME offered, yet the message changed:\n%s", got.body)
		case !offer && (!ascii(got.body) || !strings.Contains(got.body, "Content-Transfer-Encoding: quoted-printable\r\n\r\ngr=C3=BC=C3=9Fe")):
			t.Errorf("no 8BITMIME, and the server got:\n%s", got.body)
		}
	}
}

// part is the body part of msg that follows head, up to its delimiter.
func part(t *testing.T, msg, head string) string {
	t.Helper()
	i := strings.Index(msg, head)
	if i < 0 {
		t.Fatalf("no part %q in:\n%s", head, msg)
	}
	rest := msg[i+len(head):]
	return rest[:strings.Index(rest, "\r\n--b1")]
}

func decodeQP(t *testing.T, s string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Nesting deeper than Postfix's mime_nesting_limit is not walked, so
// that a message of thousands of nested parts costs no more than 100
// levels of it.
func TestDowngrade8bitDepthLimit(t *testing.T) {
	nested := func(depth int) string {
		var b strings.Builder
		b.WriteString("MIME-Version: 1.0\r\n")
		for i := 0; i < depth; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"x%d\"\r\n\r\n--x%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\ncaf\xc3\xa9\r\n")
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--x%d--\r\n", i)
		}
		return b.String()
	}
	if m := nested(150); string(downgrade8bit([]byte(m))) != m {
		t.Error("a part nested 150 deep was converted")
	}
	if got := string(downgrade8bit([]byte(nested(99)))); !ascii(got) {
		t.Errorf("a part nested 99 deep was not converted:\n%s", got)
	}
}

// The conversion never panics, and what it changes it leaves with a body
// in 7 bits or unchanged part by part; its header is the original's but
// for Content-Transfer-Encoding fields.
func FuzzDowngrade8bit(f *testing.F) {
	f.Add([]byte(mixed8bit))
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\r\n\xff\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := downgrade8bit(msg)
		if string(out) == string(msg) {
			return
		}
		hIn, _ := splitEntity(msg)
		hOut, _ := splitEntity(out)
		strip := func(h []byte) string {
			for _, name := range []string{"Content-Transfer-Encoding"} {
				for {
					_, start, end, ok := headerField(h, name)
					if !ok {
						break
					}
					h = append(append([]byte(nil), h[:start]...), h[end:]...)
				}
			}
			return string(h)
		}
		if strip(hIn) != strip(hOut) {
			t.Fatalf("header changed:\n%q\n%q", hIn, hOut)
		}
	})
}

// A multipart whose Content-Type has a bad parameter is still a
// multipart: it is never encoded as a whole (RFC 2045 §6.4), which put
// its delimiters and its base64 part into quoted-printable. Without a
// boundary to find its parts by, it goes as it is.
func TestDowngrade8bitBadParameterStaysMultipart(t *testing.T) {
	in := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; foo\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\ngrüße\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD==\r\n--b--\r\n"
	if out := string(downgrade8bit([]byte(in))); out != in {
		t.Errorf("changed:\n%s", out)
	}
}

// A multipart without its close delimiter has its last part converted too,
// as Postfix converts to the end of the message.
func TestDowngrade8bitUnclosedMultipart(t *testing.T) {
	in := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/plain\r\n\r\ngrüße\r\n"
	out := string(downgrade8bit([]byte(in)))
	if !ascii(out) || !strings.Contains(out, "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ngr=C3=BC=C3=9Fe\r\n") {
		t.Errorf("last part not converted:\n%q", out)
	}
}

// A malformed parameter after the boundary loses no part: the boundary is
// read as mail clients read it (mime.ParseMediaType gave back no
// parameters at all, and the 8-bit text part went to a server without
// 8BITMIME unconverted).
func TestDowngrade8bitBoundaryBeforeBadParameter(t *testing.T) {
	in := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"; junk\r\n\r\n--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\ngrüße\r\n--b1--\r\n"
	out := string(downgrade8bit([]byte(in)))
	if !ascii(out) {
		t.Fatalf("still 8-bit:\n%s", out)
	}
	text := part(t, out, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	if got := decodeQP(t, text); got != "grüße" {
		t.Errorf("text part decodes to %q", got)
	}
	if !strings.Contains(out, "Content-Type: multipart/mixed; boundary=\"b1\"; junk\r\n") || !strings.HasSuffix(out, "\r\n--b1--\r\n") {
		t.Errorf("the multipart's own lines changed:\n%s", out)
	}
}
