package delivery

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// FuzzServerReplies has a next hop answer a transaction with arbitrary
// bytes: the client reads them without panicking, and each reply Sluice
// keeps for a recipient (stored, logged, quoted in reports) is one line
// of bounded length without control characters, classified by its code's class (RFC 5321 §4.2.1).
func FuzzServerReplies(f *testing.F) {
	for _, s := range []string{
		"220 mx.example ESMTP\r\n250-mx.example\r\n250-DSN\r\n250 SMTPUTF8\r\n250 2.1.0 ok\r\n550 5.1.1 no such user\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n451-4.3.0 line one\r\n451-4.3.0 line\rtwo\r\n451 4.3.0 end\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n",
		"220 mx\r\n250 mx\r\n550 5.7.1\xff\xfe bad\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n9999 x\r\n",
		"220-\r\n220 \r\n250 mx\r\n421 4.4.2 bye\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n55\x1b0 x\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n550-5.1.1 a\r\n451 4.1.1 \xc2\x9b2J\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n550 9.9.9 odd\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		cs, ss := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, ss) }()
		go func() { _, _ = ss.Write(script); _ = ss.Close() }()
		c := smtp.NewClient(cs)
		defer c.Close()
		var errs []error
		if err := c.Hello("sluice.test"); err != nil {
			errs = append(errs, err)
		} else if err := c.Mail("a@example.org", nil); err != nil {
			errs = append(errs, err)
		} else {
			for _, r := range []string{"b@example.net", "c@example.net"} {
				if err := c.Rcpt(r, nil); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, err := range errs {
			o := outcomeOf(err)
			if i := strings.IndexFunc(o.reply, func(r rune) bool {
				return r < ' ' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0
			}); i >= 0 {
				t.Fatalf("control character in reply %q (%v)", o.reply, err)
			}
			if len(o.reply) > maxReplyText+64 {
				t.Fatalf("reply of %d octets", len(o.reply))
			}
			if code, ok := isReply(err); ok {
				switch {
				case code >= 500 && code < 600 && o.status != envelope.RcptFailed,
					(code < 500 || code >= 600) && o.status != envelope.RcptPending:
					t.Fatalf("code %d: status %s", code, o.status)
				}
			}
			if d := describe(err); utf8.ValidString(o.reply) && d != o.reply && isReplyErr(err) {
				t.Fatalf("describe %q, outcome %q", d, o.reply)
			}
		}
	})
}

func isReplyErr(err error) bool { _, ok := isReply(err); return ok }

// FuzzSTSPolicy reads an MTA-STS TXT record and policy body as a hostile
// domain publishes them (RFC 8461 §3.1, §3.2): never a panic; an accepted
// policy has a mode, a max_age and mx patterns that match only names.
func FuzzSTSPolicy(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;", []byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"), "a.example.net")
	f.Add("v=STSv1;id=;id=abc", []byte("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n"), "")
	f.Add("v=STSv2; id=x", []byte("version: STSv1\nmode: testing\nmx: *.\nmax_age: 99999999999999999999\n"), "x.")
	f.Fuzz(func(t *testing.T, txt string, body []byte, host string) {
		if id, ok := parseSTSRecord(txt); ok && !validSTSID(id) {
			t.Fatalf("id %q from %q", id, txt)
		}
		if len(body) > stsMaxPolicy {
			return
		}
		p, err := parseSTSPolicy(body)
		if err != nil {
			return
		}
		if p.maxAgeSeconds < 0 || (p.mode != "enforce" && p.mode != "testing" && p.mode != "none") {
			t.Fatalf("accepted %+v", p)
		}
		if p.matches(host) {
			h := strings.ToLower(strings.TrimSuffix(host, "."))
			if !slices.ContainsFunc(p.mx, func(pat string) bool {
				return pat == h || strings.HasPrefix(pat, "*.") && strings.HasSuffix(h, pat[1:]) && !strings.Contains(strings.TrimSuffix(h, pat[1:]), ".")
			}) {
				t.Fatalf("%q matches none of %q", host, p.mx)
			}
		}
		if p.size() < 0 {
			t.Fatal("negative size")
		}
	})
}

// FuzzASCIIAddr: the SMTPUTF8 downgrade (RFC 6531 §3.2) either refuses an
// address or gives one in ASCII with the same local part.
func FuzzASCIIAddr(f *testing.F) {
	for _, s := range []string{"a@example.org", "a@b\u00fccher.example", "\u00fc@example.org", "a@b@c\u00e9", "@\u00e9", "a@xn--\u00e9", "a@.\u00e9.", "a@\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got, ok := asciiAddr(addr)
		if !ok {
			return
		}
		if !ascii(got) {
			t.Fatalf("asciiAddr(%q) = %q, not ASCII", addr, got)
		}
		if at := strings.LastIndexByte(addr, '@'); at >= 0 && !strings.HasPrefix(got, addr[:at+1]) {
			t.Fatalf("asciiAddr(%q) = %q, local part changed", addr, got)
		}
	})
}
