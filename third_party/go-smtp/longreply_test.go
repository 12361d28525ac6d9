package smtp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// A reply's text is kept to maxResponseText (the rest read and dropped),
// and a reply that goes on past maxResponseBytes is an error. Sluice
// change: textproto kept every continuation line, and a server sending
// "220-" lines without end took the client to gigabytes in seconds.
func TestReadResponseBounded(t *testing.T) {
	line := strings.Repeat("x", 40)
	long := strings.Repeat("250-"+line+"\r\n", 300) + "250 end\r\n"
	code, msg, err := readResponse(textproto.NewReader(bufio.NewReader(strings.NewReader(long))), 250)
	if err != nil || code != 250 || len(msg) > maxResponseText || !strings.HasPrefix(msg, line+"\n"+line) {
		t.Fatalf("300 lines: %d, %d bytes of text, %v", code, len(msg), err)
	}
	// As textproto: a line with another code is text, and the reply goes on.
	odd := "250-first\r\n251-other\r\n250 last\r\n"
	if code, msg, err := readResponse(textproto.NewReader(bufio.NewReader(strings.NewReader(odd))), 250); err != nil || code != 250 || msg != "first\n251-other\nlast" {
		t.Fatalf("mixed codes: %d %q %v", code, msg, err)
	}
	huge := strings.Repeat("250-"+line+"\r\n", 2000) + "250 end\r\n"
	if _, _, err := readResponse(textproto.NewReader(bufio.NewReader(strings.NewReader(huge))), 250); !errors.Is(err, ErrResponseTooLong) {
		t.Fatalf("2000 lines: %v, want ErrResponseTooLong", err)
	}
}

// A server that greets with continuation lines for ever fails the client's
// EHLO at once, instead of at the command timeout with all of it in memory.
func TestClientEndlessGreeting(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	go func() {
		for i := 0; i < 1e6; i++ { // bounded: the client stops reading long before
			if _, err := srv.Write([]byte("220-" + strings.Repeat("y", 60) + "\r\n")); err != nil {
				return
			}
		}
	}()
	c := NewClient(cli)
	defer c.Close()
	c.CommandTimeout = 10 * time.Second
	if err := c.Hello("client.test"); !errors.Is(err, ErrResponseTooLong) {
		t.Fatalf("EHLO after an endless greeting: %v, want ErrResponseTooLong", err)
	}
}

// A reply line longer than maxReplyLine is cut to it, the rest read and
// dropped, and the reply read to its end; one line longer than
// maxResponseBytes is an error. Sluice change: a line over 2000 bytes
// broke the connection (ErrTooLongLine), so a 250 to the final dot with
// a long line was taken for a lost connection.
func TestReadResponseLongLine(t *testing.T) {
	long := strings.Repeat("z", 5000)
	in := "250-" + long + "\r\n250 " + long + "\r\n251 next\r\n"
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(in)))
	code, msg, err := readResponse(r, 250)
	if err != nil || code != 250 || msg != long[:maxReplyLine-4]+"\n"+long[:maxReplyLine-4] {
		t.Fatalf("long lines: %d, %d bytes of text, %v", code, len(msg), err)
	}
	if code, msg, err := readResponse(r, 251); err != nil || code != 251 || msg != "next" {
		t.Fatalf("the next reply: %d %q %v", code, msg, err)
	}
	endless := "250 " + strings.Repeat("z", maxResponseBytes) + "\r\n"
	if _, _, err := readResponse(textproto.NewReader(bufio.NewReader(strings.NewReader(endless))), 250); !errors.Is(err, ErrResponseTooLong) {
		t.Fatalf("a line of 64 KiB: %v, want ErrResponseTooLong", err)
	}
}

// A last line ends the reply whatever its code, and gives the reply its
// code, as Postfix reads it; the next reply is read in step. Sluice
// change: textproto took a last line with another code for text and read
// on into the next command's reply.
func TestReadResponseLastLineOtherCode(t *testing.T) {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader("250-ok\r\n550 5.7.1 no\r\n250 next\r\n550-5.7.1 no\r\n250 fine\r\n")))
	code, msg, err := readResponse(r, 250)
	var te *textproto.Error
	if code != 550 || !errors.As(err, &te) || te.Code != 550 || msg != "ok\n5.7.1 no" {
		t.Fatalf("250- then 550: %d %q %v", code, msg, err)
	}
	if code, msg, err := readResponse(r, 250); code != 250 || msg != "next" || err != nil {
		t.Fatalf("the next reply: %d %q %v", code, msg, err)
	}
	if code, msg, err := readResponse(r, 250); code != 250 || msg != "5.7.1 no\nfine" || err != nil {
		t.Fatalf("550- then 250: %d %q %v", code, msg, err)
	}
}

// A line of the code alone is a whole reply (RFC 5321 §4.2: the text is
// optional), last line of a multi-line one too. Sluice change: textproto
// refused it as a short response.
func TestReadResponseCodeAlone(t *testing.T) {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader("250\r\n250-first\r\n250\r\n354\r\n")))
	for _, want := range []struct {
		code int
		msg  string
	}{{250, ""}, {250, "first\n"}, {354, ""}} {
		if code, msg, err := readResponse(r, want.code); code != want.code || msg != want.msg || err != nil {
			t.Fatalf("%d %q %v, want %d %q", code, msg, err, want.code, want.msg)
		}
	}
}

// The reply to the final dot has no budget but the timeout: a 250 of
// 200 KiB is read to its end, its text bounded as any reply's. Sluice
// change: it ended as ErrResponseTooLong after the server had the
// message.
func TestDotResponseUnbounded(t *testing.T) {
	long := strings.Repeat("250-"+strings.Repeat("q", 76)+"\r\n", 2560) + "250 2.0.0 queued\r\n"
	code, msg, err := readResponseWithin(textproto.NewReader(bufio.NewReader(strings.NewReader(long))), dot2xxCode, dotResponseBytes)
	if err != nil || code != 250 || len(msg) > maxResponseText {
		t.Fatalf("200 KiB: %d, %d bytes of text, %v", code, len(msg), err)
	}
}

// As with textproto's ReadLine, a last line cut by the end of the input
// is still read as a line, and the end comes with the next read.
func TestReadResponseCutLine(t *testing.T) {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader("250 ok")))
	if code, msg, err := readResponse(r, 250); code != 250 || msg != "ok" || err != nil {
		t.Fatalf("%d %q %v", code, msg, err)
	}
	if _, _, err := readResponse(r, 250); err != io.EOF {
		t.Fatalf("next read: %v, want EOF", err)
	}
}
