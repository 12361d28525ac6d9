package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
)

// buildReply writes r's answer to a message m from sender, as RFC 3834
// §3.1 has it. The plugin writes every field but the trace: the core adds
// only its Received field.
func buildReply(r *responder, sender string, m *sdk.Message, now time.Time) []byte {
	var b bytes.Buffer
	field := func(name, value string) {
		sep := ": "
		if strings.HasPrefix(value, "\r\n") {
			sep = ":" // folded at once (encodeSubject)
		}
		b.WriteString(name + sep + value + "\r\n")
	}
	field("From", "<"+r.fromAddr()+">")
	field("To", "<"+sender+">")
	field("Subject", encodeSubject(replySubject(r, m)))
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", newMessageID(r.address))
	// §3.1.5: the reply threads with the message it answers.
	if id := msgIDs(m.Get("Message-ID")); len(id) == 1 {
		field("In-Reply-To", id[0])
		refs := msgIDs(m.Get("References"))
		if len(refs) == 0 {
			refs = msgIDs(m.Get("In-Reply-To"))
		}
		// RFC 5322 §3.6.4 allows dropping old IDs; keep a line short.
		refs = append(refs[max(len(refs)-9, 0):], id[0])
		field("References", strings.Join(refs, "\r\n "))
	}
	// RFC 3834 §5: marks the reply as one, so other responders (this one
	// included) stay quiet; Exchange reads its own field instead.
	field("Auto-Submitted", "auto-replied")
	field("X-Auto-Response-Suppress", "All")
	field("MIME-Version", "1.0")
	field("Content-Type", "text/plain; charset=utf-8")
	body := strings.ReplaceAll(strings.ReplaceAll(r.body, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	if plain7bit(body) {
		field("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n" + body)
		return b.Bytes()
	}
	// Quoted-printable needs no 8BITMIME on any hop (RFC 2045 §6.7).
	field("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write([]byte(body))
	_ = w.Close()
	return b.Bytes()
}

// replySubject is the configured subject, or "Auto: " and the original
// one (RFC 3834 §3.1.5), decoded from RFC 2047 where it can be.
func replySubject(r *responder, m *sdk.Message) string {
	if r.subject != "" {
		return r.subject
	}
	orig := strings.TrimSpace(unfold(m.Get("Subject")))
	if d, err := new(mime.WordDecoder).DecodeHeader(orig); err == nil {
		orig = d
	}
	if !utf8.ValidString(orig) {
		orig = strings.ToValidUTF8(orig, "\uFFFD")
	}
	// A CR, LF or other control character (an encoded word can carry
	// them) has no place in a one-line Subject: a space instead.
	orig = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, orig)
	if rs := []rune(orig); len(rs) > 200 {
		orig = string(rs[:200]) + "…"
	}
	if strings.HasPrefix(strings.ToLower(orig), "auto:") {
		return orig
	}
	return strings.TrimSpace("Auto: " + orig)
}

// encodeSubject encodes a non-ASCII subject as RFC 2047 Q words, each on
// a line of its own: a line with an encoded word has at most 76
// characters (RFC 2047 §2), and a word up to 75.
func encodeSubject(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return "\r\n " + strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
		}
	}
	return s
}

// msgIDs returns the <id> tokens of a Message-ID, In-Reply-To or
// References value: printable ASCII as RFC 5322 §3.6.4's msg-id is, and
// short, so that a control character or an ID of kilobytes in the
// original is not copied into the reply (nor a line over 998 octets).
func msgIDs(v string) []string {
	var ids []string
	for _, id := range msgIDRe.FindAllString(unfold(v), -1) {
		if len(id) <= maxMsgID {
			ids = append(ids, id)
		}
	}
	return ids
}

var msgIDRe = regexp.MustCompile(`<[!-;=?-~]+@[!-;=?-~]+>`)

// maxMsgID bounds an ID copied from the original; real ones are well
// under it.
const maxMsgID = 250

// newMessageID is a random ID in the responder's domain (RFC 5322
// §3.6.4: unique, the right side a domain of the sender's).
func newMessageID(addr string) string {
	var n [16]byte
	_, _ = rand.Read(n[:])
	return "<autoreply." + hex.EncodeToString(n[:]) + addr[strings.LastIndexByte(addr, '@'):] + ">"
}

// plain7bit reports whether body can go as 7bit: ASCII lines of at most
// 998 octets (RFC 5322 §2.1.1).
func plain7bit(body string) bool {
	for _, line := range strings.Split(body, "\r\n") {
		if len(line) > 998 {
			return false
		}
		for i := 0; i < len(line); i++ {
			if line[i] >= 0x80 || line[i] == '\r' || line[i] == '\n' || line[i] == 0 {
				return false
			}
		}
	}
	return true
}
