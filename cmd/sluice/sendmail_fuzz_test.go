package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzSendmailHeaders feeds sendmail -t arbitrary input, as a cron job or
// a PHP script may pipe it: the message it would submit has only CRLF
// line ends (RFC 5321 §2.3.8), no line over 998 octets (RFC 5322
// §2.1.1), a header of field lines and folded continuations that each
// carry more than white space (RFC 5322 §3.2.2), no Bcc (§3.6.3) and the
// From, Date and Message-ID §3.6 requires; and every recipient it found
// in To, Cc or Bcc is local-part@domain, qualified with the domain, and
// goes out in RCPT as a dot-string or a quoted-string (RFC 5321 §4.1.2).
func FuzzSendmailHeaders(f *testing.F) {
	for _, s := range []string{
		"To: bob@example.net\nSubject: hi\n\nbody\n",
		"From sender Mon Jan  1 00:00:00 2026\nTo: a, \"b, c\" <bc@example.net>\nBcc: hidden\n\nx\r\n.\r\n",
		"To: bob\r\nSubject: " + strings.Repeat("word ", 300) + "\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n",
		"To: bob\nSubject: a\r\rb\n\tfolded\n\nprogress\r50%\r100%\r\n",
		"To: bob\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" + strings.Repeat("y", 1500) + "\n--b--\n",
		"To: bob\nSubject:" + strings.Repeat(" ", 2500) + "\n\n",
		"To: bob\n" + strings.Repeat("N", 1200) + ": v\n\nno blank line before me\n",
		"To: bob\nContent-Transfer-Encoding: base64\n\n" + strings.Repeat("QUJD", 300) + "\n",
		"not a header\nTo: bob\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o := sendmailOpts{fromHeaders: true, sender: "s@example.org", senderSet: true}
		sub, err := prepare(o, parseMessage(raw), "example.org")
		if err != nil {
			return // no recipient, or a malformed one: refused before any SMTP
		}
		for _, r := range sub.rcpts {
			if addrError(r) != nil || strings.ContainsAny(r, "\r\n") {
				t.Errorf("recipient %q is not a qualified address", r)
			}
			if w := smtpPath(r); !isDotString(w[:strings.LastIndexByte(w, '@')]) && !isQuotedString(w[:strings.LastIndexByte(w, '@')]) {
				t.Errorf("recipient %q goes out as %q, no RFC 5321 local part", r, w)
			}
		}
		data := sub.bytes(t)
		for i := range data {
			if data[i] == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", i, data)
			}
			if data[i] == '\n' && (i == 0 || data[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, data)
			}
		}
		header, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
		if !ok && !bytes.HasPrefix(data, []byte("\r\n")) {
			t.Fatalf("no end of header in %q", data)
		}
		seen := map[string]bool{}
		for i, l := range strings.Split(string(data), "\r\n") {
			if len(l) > maxLine {
				t.Errorf("line %d has %d octets", i+1, len(l))
			}
		}
		for i, l := range strings.Split(string(header), "\r\n") {
			if l == "" {
				continue // an input header that was all body
			}
			if l[0] == ' ' || l[0] == '\t' {
				if i == 0 {
					t.Errorf("header starts with a continuation: %q", l)
				}
				if strings.Trim(l, " \t") == "" && !blankLineIn(raw) {
					t.Errorf("header line %d is only white space", i+1)
				}
				continue
			}
			if !isFieldLine(l) {
				t.Errorf("header line %d is neither a field nor a continuation: %q", i+1, l)
				continue
			}
			seen[strings.ToLower(fieldName(l))] = true
		}
		if seen["bcc"] {
			t.Errorf("Bcc left in %q", header)
		}
		for _, name := range []string{"from", "date", "message-id"} {
			if !seen[name] {
				t.Errorf("no %s field in %q", name, header)
			}
		}
	})
}

// blankLineIn reports whether raw has a short line of white space alone,
// which sendmail passes on as it is (obsolete syntax, RFC 5322 §4.2).
func blankLineIn(raw []byte) bool {
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if len(l) > 0 && len(l) <= maxLine && len(bytes.Trim(l, " \t\r")) == 0 {
			return true
		}
	}
	return false
}

// isQuotedString reports whether s is an RFC 5321 §4.1.2 Quoted-string:
// qtextSMTP and quoted-pairSMTP (%d32-126) in quotes, or UTF-8 (RFC 6531).
func isQuotedString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s)-1 && (s[i+1] >= 32 && s[i+1] <= 126):
			i++
		case c == '"' || c == '\\' || c < 32 || c == 127:
			return false
		}
	}
	return true
}
