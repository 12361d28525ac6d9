package delivery

import (
	"bytes"
	"errors"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/sluice-mta/sluice/internal/mailhdr"
	"github.com/sluice-mta/sluice/internal/mimeparam"
)

// downgrade8bit returns msg as it may go to a server that does not offer
// 8BITMIME. RFC 6152 §3: a client must not send 8-bit data to such a
// server; it converts the message to 7 bits (RFC 2045) or returns it. As
// Postfix's smtp client does (its MIME output conversion), every MIME leaf
// declared 7bit or 8bit (or nothing) whose body holds 8-bit octets is
// re-encoded quoted-printable (RFC 2045 §6.7), as is a message/global
// part, and multiparts and attached messages are walked; header fields
// stay as they are (8-bit there has no 7-bit form), as do base64,
// quoted-printable and binary bodies. A message without MIME-Version is
// no MIME message and goes unchanged.
func downgrade8bit(msg []byte) []byte {
	if ascii(msg) {
		return msg
	}
	hdr, _ := splitEntity(msg)
	if _, _, _, ok := headerField(hdr, "MIME-Version"); !ok {
		return msg
	}
	out, _ := downgradeEntity(msg, "text/plain", 0)
	return out
}

// maxDowngradeDepth bounds the nesting walked, as Postfix's
// mime_nesting_limit (100) does; deeper parts go as they are.
const maxDowngradeDepth = 100

// downgradeEntity converts one MIME entity (header and body) whose type
// is defaultType when it names none (RFC 2045 §5.2, RFC 2046 §5.1.5), and
// says whether it changed anything.
func downgradeEntity(raw []byte, defaultType string, depth int) ([]byte, bool) {
	hdr, body := splitEntity(raw)
	if body == nil || ascii(body) {
		return raw, false
	}
	mediatype, boundary := defaultType, ""
	if v, _, _, ok := headerField(hdr, "Content-Type"); ok {
		// A bad parameter (no value, unquoted 8-bit) still names the
		// type: a multipart stays one. Its boundary is read as mail
		// clients read it (mimeparam), past a bad parameter, where
		// mime.ParseMediaType gives up on all of them.
		if mt, _, err := mime.ParseMediaType(v); err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
			mediatype, boundary = mt, mimeparam.Parse(v).Get("boundary")
		}
	}
	// RFC 6532 §3.7, RFC 6533 §6: the message/global types (a report's
	// returned SMTPUTF8 message, header or status fields), unlike
	// message/rfc822, take any transfer encoding, so they are encoded as
	// a leaf is rather than walked or left 8-bit.
	global := strings.HasPrefix(mediatype, "message/global")
	composite := strings.HasPrefix(mediatype, "multipart/") || strings.HasPrefix(mediatype, "message/") && !global
	cte := "7bit"
	if v, _, _, ok := headerField(hdr, "Content-Transfer-Encoding"); ok {
		cte = strings.ToLower(strings.TrimSpace(v))
	}
	var newBody []byte
	switch {
	case depth >= maxDowngradeDepth && composite:
		return raw, false
	case strings.HasPrefix(mediatype, "multipart/"):
		def := "text/plain"
		if mediatype == "multipart/digest" {
			def = "message/rfc822"
		}
		nb, changed := downgradeMultipart(body, boundary, def, depth+1)
		if !changed {
			return raw, false
		}
		newBody = nb
	case mediatype == "message/rfc822":
		nb, changed := downgradeEntity(body, "text/plain", depth+1)
		if !changed {
			return raw, false
		}
		newBody = nb
	case composite:
		// RFC 2045 §6.4: a multipart or message is never encoded
		// itself; one whose parts cannot be found goes as it is.
		return raw, false
	case cte == "7bit" || cte == "8bit":
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		_, _ = w.Write(body)
		_ = w.Close()
		newBody = b.Bytes()
		hdr = setHeaderField(hdr, "Content-Transfer-Encoding", "quoted-printable")
	default:
		return raw, false
	}
	if v, _, _, _ := headerField(hdr, "Content-Transfer-Encoding"); strings.EqualFold(strings.TrimSpace(v), "8bit") && ascii(newBody) {
		// A multipart or message declared 8bit that is now 7-bit says so
		// (RFC 2045 §6.4: a composite type is 7bit, 8bit or binary).
		hdr = setHeaderField(hdr, "Content-Transfer-Encoding", "7bit")
	}
	out := make([]byte, 0, len(hdr)+2+len(newBody))
	out = append(out, hdr...)
	out = append(out, "\r\n"...)
	return append(out, newBody...), true
}

// downgradeMultipart converts each body part of a multipart body; the
// preamble, the delimiter lines and the epilogue stay as they are (RFC
// 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter).
func downgradeMultipart(body []byte, boundary, defaultType string, depth int) ([]byte, bool) {
	if boundary == "" {
		return body, false
	}
	dash := "--" + boundary
	type span struct{ start, end int } // a delimiter line, its CRLF included
	var delims []span
	for i := 0; i < len(body); {
		end := bytes.IndexByte(body[i:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += i + 1
		}
		line := strings.TrimRight(string(body[i:end]), " \t\r\n")
		if line == dash || line == dash+"--" {
			delims = append(delims, span{i, end})
			if line == dash+"--" {
				break
			}
		}
		i = end
	}
	if n := len(delims); n > 0 {
		if l := strings.TrimRight(string(body[delims[n-1].start:delims[n-1].end]), " \t\r\n"); l != dash+"--" {
			// No close delimiter: the last part runs to the end.
			delims = append(delims, span{len(body), len(body)})
		}
	}
	var out []byte
	changed, last := false, 0
	for k := 0; k+1 < len(delims); k++ {
		start, end := delims[k].end, delims[k+1].start
		if end >= start+2 && string(body[end-2:end]) == "\r\n" {
			end -= 2
		}
		if end < start {
			continue
		}
		part, ch := downgradeEntity(body[start:end], defaultType, depth)
		if !ch {
			continue
		}
		out = append(out, body[last:start]...)
		out = append(out, part...)
		last, changed = end, true
	}
	if !changed {
		return body, false
	}
	return append(out, body[last:]...), true
}

// splitEntity splits raw at the blank line that ends its header (RFC 5322
// §2.1): hdr keeps the CRLF of its last field, body is nil when there is
// no blank line.
func splitEntity(raw []byte) (hdr, body []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:]
	}
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		return raw, nil
	}
	return raw[:i+2], raw[i+4:]
}

// headerField finds the first field called name in hdr and returns its
// value unfolded and the span of the field, continuation lines included
// (fields found as the listener and the pipeline find them, mailhdr).
func headerField(hdr []byte, name string) (value string, start, end int, ok bool) {
	for i := 0; i < len(hdr); {
		f, isField := mailhdr.Field(hdr[i:])
		if isField && strings.EqualFold(string(hdr[i:i+f.Name]), name) {
			v := string(hdr[i+f.Colon+1 : i+f.End])
			v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
			return strings.TrimSpace(v), i, i + f.End, true
		}
		i += f.End
	}
	return "", 0, 0, false
}

// setHeaderField replaces the field called name with "name: value", or
// adds it at the end of hdr.
func setHeaderField(hdr []byte, name, value string) []byte {
	field := name + ": " + value + "\r\n"
	out := make([]byte, 0, len(hdr)+len(field))
	if _, start, end, ok := headerField(hdr, name); ok {
		out = append(out, hdr[:start]...)
		out = append(out, field...)
		return append(out, hdr[end:]...)
	}
	out = append(out, hdr...)
	return append(out, field...)
}
