package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/config"
)

// FuzzParseMailbox: parseMailbox never panics, and what it accepts renders
// as a wire form with no control characters, an unquoted local part only
// when it is a dot-string, and a local part and domain that parse back the
// same.
func FuzzParseMailbox(f *testing.F) {
	for _, s := range []string{
		"a@example.org", "a b@example.org", `q"uo\te@example.org`, "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]",
		"j\u00f6rg@b\u00fccher.example", "a@b@c", "user%x@example.org", "x!y@example.org", "a@example.org.",
		"a@[IPv6:::ffff:127.0.0.1]", "@", "a@-b", ".a.@b", string(make([]byte, 70)) + "@x",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, smtputf8 bool) {
		mb, err := parseMailbox(s, smtputf8)
		_, _ = addressLiteralIP(s)
		if err != nil {
			return
		}
		w := mb.String()
		for _, r := range w {
			if r < ' ' || r == 0x7f {
				t.Fatalf("%q: wire form %q holds a control character", s, w)
			}
		}
		if !utf8.ValidString(w) {
			t.Fatalf("%q: wire form %q is not UTF-8", s, w)
		}
		if strings.HasPrefix(w, `"`) == isDotString(mb.Local) {
			t.Fatalf("%q: wire form %q quoted wrongly", s, w)
		}
		again, err := parseMailbox(mb.Local+"@"+mb.Domain, smtputf8)
		if err != nil || again != mb {
			t.Fatalf("%q: parsed %+v, again %+v (%v)", s, mb, again, err)
		}
		_, _ = addressLiteralIP(mb.Domain)
	})
}

// FuzzSMTPCommands drives a real server with arbitrary command lines, in
// the clear and under AUTH-capable TLS: it must answer only well-formed
// replies and never hang or crash.
func FuzzSMTPCommands(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
		"HELO x\r\nMAIL FROM:<> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.org\r\n",
		"EHLO a\r\nAUTH PLAIN AGJvYgBiYXR0ZXJ5IHN0YXBsZQ==\r\nMAIL FROM:<bob@example.org>\r\n",
		"EHLO a\r\nAUTH LOGIN\r\nYm9i\r\nd3Jvbmc=\r\n",
		"EHLO a\r\nAUTH PLAIN\r\n=\r\nAUTH XOAUTH2 x\r\n",
		"EHLO a\r\nMAIL FROM:<@a,@b:c@d>\r\nRCPT TO:<\"x@y\"@example.org>\r\nRCPT TO:<u%v@example.org>\r\n",
		"EHLO a\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 5 LAST\r\nhello",
		"EHLO a\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@example.org>\r\nRSET\r\nNOOP\r\nVRFY x\r\n",
		"STARTTLS\r\nEHLO a\r\nSTARTTLS\r\n",
		"\r\n\x00\xff\r\nMAIL\r\nRCPT\r\nDATA\r\n",
	} {
		f.Add(s, false)
	}
	f.Add("EHLO a\r\nAUTH PLAIN AGJvYgBiYXR0ZXJ5IHN0YXBsZQ==\r\nMAIL FROM:<bob@example.org>\r\n", true)
	sub, clientTLS := withSubmission(f, config.KindSubmissions)
	h := start(f, sub, withUsers(f, users), withLimits(func(l *config.Limits) {
		l.CommandTimeout.Duration = 2 * time.Second
		l.DataTimeout.Duration = 2 * time.Second
		l.MaxConnectionsPerIP, l.ConnectionRatePerIP = -1, -1
		l.MessageRatePerIP.PerMinute, l.MessageRatePerSender.PerMinute = -1, -1
		l.AuthFailuresPerIP = -1
	}))
	mx, tlsAddr := h.addr("mx"), h.addr("sub")
	f.Fuzz(func(t *testing.T, input string, overTLS bool) {
		if len(input) > 4096 {
			return
		}
		var c net.Conn
		var err error
		if overTLS {
			c, err = tls.Dial("tcp", tlsAddr, clientTLS)
		} else {
			c, err = net.Dial("tcp", mx)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Whatever state the input left: end an AUTH exchange, a DATA, then
		// QUIT. A BDAT still waiting for octets ends at the timeout.
		go func() {
			_, _ = io.WriteString(c, input+"\r\n*\r\n.\r\nQUIT\r\n")
		}()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("server hung on %q", input)
				}
				if l != "" {
					t.Fatalf("unterminated reply %q", l)
				}
				return
			}
			if !wellFormedReply(l) {
				t.Fatalf("malformed reply %q to %q", l, input)
			}
		}
	})
}

// wellFormedReply checks RFC 5321 §4.2: a code 2xx-5xx, then SP or "-",
// then text, then CRLF. A bare CR inside the text is tolerated: go-smtp
// echoes an unknown command, bare CR included, in its 500 reply (seed
// 2780d0253d17029f); a client splits replies at CRLF, so it cannot end one.
func wellFormedReply(l string) bool {
	if !strings.HasSuffix(l, "\r\n") || len(l) < 5 || strings.Contains(l[:len(l)-2], "\n") {
		return false
	}
	if l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9' {
		return false
	}
	return l[3] == ' ' || l[3] == '-' || len(l) == 5
}
