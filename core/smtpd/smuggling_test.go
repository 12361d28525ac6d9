package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// SMTP smuggling (RFC 5321 §2.3.8): a DATA that hides a fake end of data
// behind a bare CR or LF is one message or none, with one reply, once the
// real <CRLF>.<CRLF> has been read; the text after the fake end is never
// taken for commands. A bare CR is refused; a bare LF too under
// bare_newline = "reject", while under "normalize" (the default) the
// message is queued whole, the smuggled commands its text.
func TestSmuggling(t *testing.T) {
	const smuggled = "MAIL FROM:<evil@example.org>\r\n" +
		"RCPT TO:<victim@example.org>\r\n" +
		"DATA\r\n" +
		"From: ceo@example.org\r\n\r\nsmuggled\r\n"
	for _, mode := range []config.BareNewline{config.BareNewlineReject, config.BareNewlineNormalize} {
		for name, fakeEnd := range map[string]string{
			"LF.LF":     "\n.\n",
			"LF.CRLF":   "\n.\r\n",
			"CR.LF":     "\r.\n",
			"CRLF.LF":   "\r\n.\n",
			"CR.CR":     "\r.\r",
			"bare LF":   "\n",
			"bare CR":   "\r",
			"LF.LF end": "\n.\n\r\n",
		} {
			t.Run(string(mode)+" "+name, func(t *testing.T) {
				h := start(t, withBareNewline(mode))
				d := h.dial()
				d.ehlo()
				d.envelope("b@example.org")
				d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
				d.raw("Subject: innocent\r\n\r\nhello" + fakeEnd + smuggled + ".\r\n")
				queued := mode == config.BareNewlineNormalize && !strings.Contains(fakeEnd, "\r.") && fakeEnd != "\r"
				if queued {
					d.queued()
				} else {
					d.expect(bareRefused)
				}
				// The next reply answers NOOP: nothing smuggled was answered.
				d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
				msgs := h.messages()
				if !queued {
					if len(msgs) != 0 {
						t.Errorf("queue holds %d messages", len(msgs))
					}
					return
				}
				if len(msgs) != 1 {
					t.Fatalf("queue holds %d messages, want 1", len(msgs))
				}
				if body := h.stored(msgs[0].ID); !strings.HasSuffix(body, "\r\n"+smuggled) || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") {
					t.Errorf("stored %q, want the smuggled text in it, all CRLF", body)
				}
			})
		}
	}
}

// The same dialog with proper line ends is one message holding the text.
func TestSmugglingControl(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: innocent\r\n\r\nhello\r\n..\r\nMAIL FROM:<evil@example.org>\r\n.\r\n")
	d.queued()
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 1 {
		t.Errorf("queue holds %d messages, want 1", n)
	}
}

// In "<CRLF>.<CR>x" the DATA reader drops the dot-stuffing dot and keeps
// the CR (as net/textproto does), so the bare CR is refused like any other:
// no message is queued, and the smuggled commands were data, not commands.
func TestSmugglingDotCRIsRefused(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: innocent\r\n\r\nhello\r\n.\rMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\n.\r\n")
	d.expect(bareRefused)
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if msgs := h.messages(); len(msgs) != 0 {
		t.Fatalf("%d messages queued, want none", len(msgs))
	}
}

func TestLineEnds(t *testing.T) {
	for in, bare := range map[string]bool{
		"":               false,
		"a\r\nb\r\n":     false,
		"a\nb\r\n":       true,
		"a\rb\r\n":       true,
		"a\r\r\n":        true,
		"a\r\n\n":        true,
		"trailing CR\r":  true,
		"\r\n\r\n\r\n":   false,
		"x\r\n.\r\n.\n.": true,
	} {
		var l lineEnds
		// Fed byte by byte: a CRLF split across reads is still a pair.
		for i := range len(in) {
			l.scan([]byte{in[i]})
		}
		if got := l.found(); got != bare {
			t.Errorf("%q: found %v, want %v", in, got, bare)
		}
	}
}
