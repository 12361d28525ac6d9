package filter

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
)

// Limits on the MIME walk, so that a hostile message costs bounded work:
// nesting deeper than maxMIMEDepth (Postfix's mime_nesting_limit) is not
// descended into, and no more than maxMIMEParts entities are looked at. A
// message that goes past either is not known to be free of what an
// attachment rule looks for (an executable hidden 10,000 levels down, or
// as part 10,001), so a rule that refuses such an attachment treats it as
// matched, as Postfix refuses a message past its mime_nesting_limit (a
// pass or add_header rule does not: see matches). Everything is read from
// the body in memory, so a truncated or unterminated multipart ends the
// walk of that multipart instead of blocking.
const (
	maxMIMEDepth = 100
	maxMIMEParts = 10000
)

// mimePart is one entity of the message that is not a multipart: the
// top-level body of a single-part message, each leaf of a multipart, and
// each attached message (which is also walked into).
type mimePart struct {
	mediaType string // lowercased "type/subtype"
	filename  string // from Content-Disposition filename or Content-Type name
	// text is the decoded content of a text/* part whose
	// Content-Transfer-Encoding is base64 or quoted-printable (the raw
	// body already shows the others as they are).
	text []byte
}

// walker collects the parts of one message.
type walker struct {
	parts    []mimePart
	entities int
	cut      string // why the walk stopped short of the whole message
}

// walkMIME returns the parts of a message whose top-level header fields
// are read through get (values unfolded) and whose body is body, and,
// when the message goes past the walk's limits, which one.
func walkMIME(get func(string) string, body []byte) (parts []mimePart, cut string) {
	w := &walker{}
	w.entity(get, body, 0)
	return w.parts, w.cut
}

// entity walks one MIME entity (RFC 2045 §2.4) at nesting depth depth.
func (w *walker) entity(get func(string) string, body []byte, depth int) {
	if w.entities >= maxMIMEParts {
		w.cut = fmt.Sprintf("more than %d MIME parts", maxMIMEParts)
		return
	}
	w.entities++
	mt, params := mediaType(get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		if depth < maxMIMEDepth {
			w.multipart(body, params["boundary"], depth)
		} else {
			w.cut = fmt.Sprintf("MIME nesting deeper than %d levels", maxMIMEDepth)
		}
		return
	}
	p := mimePart{mediaType: mt, filename: filename(get("Content-Disposition"), get("Content-Type"))}
	cte := strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "text/") && (cte == "base64" || cte == "quoted-printable"):
		p.text = decodeCTE(cte, body)
	case (mt == "message/rfc822" || mt == "message/global") && depth >= maxMIMEDepth:
		w.cut = fmt.Sprintf("MIME nesting deeper than %d levels", maxMIMEDepth)
	case mt == "message/rfc822" || mt == "message/global":
		// RFC 2046 §5.2.1: an attached message is itself a message to walk.
		w.parts = append(w.parts, p)
		if msg, err := mail.ReadMessage(bytes.NewReader(decodeCTE(cte, body))); err == nil {
			inner, _ := io.ReadAll(msg.Body)
			w.entity(msg.Header.Get, inner, depth+1)
		}
		return
	}
	w.parts = append(w.parts, p)
}

// multipart walks the body parts of a multipart entity (RFC 2046 §5.1).
// A malformed multipart ends at the first part that does not parse; the
// parts before it are kept.
func (w *walker) multipart(body []byte, boundary string, depth int) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		// NextRawPart leaves quoted-printable alone, so that every part
		// is decoded the same way, by decodeCTE.
		part, err := mr.NextRawPart()
		if err != nil {
			return
		}
		if w.entities >= maxMIMEParts {
			w.cut = fmt.Sprintf("more than %d MIME parts", maxMIMEParts)
			return
		}
		data, err := io.ReadAll(part)
		w.entity(part.Header.Get, data, depth+1)
		if err != nil {
			return
		}
	}
}

// mediaType parses a Content-Type value. A missing or unparseable one is
// text/plain (RFC 2045 §5.2); a type whose parameters are broken keeps its
// type, so that "application/x-msdownload; ;name=x" is still recognised.
func mediaType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if mt == "" || err != nil && err != mime.ErrInvalidMediaParameter {
		t, _, _ := strings.Cut(v, ";")
		t = strings.ToLower(strings.TrimSpace(t))
		if strings.Count(t, "/") != 1 || strings.ContainsAny(t, " \t\"") {
			return "text/plain", nil
		}
		return t, nil
	}
	return mt, params
}

// looseName finds a name= or filename= parameter in a header value that
// mime.ParseMediaType rejected: senders of malware break the syntax on
// purpose, hoping a filter gives up where a mail client does not.
var looseName = regexp.MustCompile(`(?i)(?:^|[;\s])(?:file)?name\*?\s*=\s*(?:"([^"]*)"|([^;\s]+))`)

// filename returns the part's file name: Content-Disposition's filename
// (RFC 2183 §2.3), else Content-Type's name, RFC 2231 and RFC 2047
// encodings decoded.
func filename(disposition, contentType string) string {
	for _, v := range []string{disposition, contentType} {
		if v == "" {
			continue
		}
		_, params, err := mime.ParseMediaType(v)
		name := params["filename"]
		if name == "" {
			name = params["name"]
		}
		if name == "" && err != nil {
			if m := looseName.FindStringSubmatch(v); m != nil {
				name = m[1] + m[2]
			}
		}
		if name != "" {
			dec := new(mime.WordDecoder)
			if d, err := dec.DecodeHeader(name); err == nil {
				name = d
			}
			return name
		}
	}
	return ""
}

// decodeCTE undoes a Content-Transfer-Encoding (RFC 2045 §6). What decodes
// before an error is returned; an unknown encoding is left as is.
func decodeCTE(cte string, body []byte) []byte {
	var r io.Reader
	switch cte {
	case "base64":
		// The decoder skips CR and LF; other stray bytes end the decoding.
		r = base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body))
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(body))
	default:
		return body
	}
	out, _ := io.ReadAll(r)
	return out
}

// unfold removes the folding (CRLF before whitespace) of a header value
// (RFC 5322 §2.2.3).
func unfold(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", ""), "\n", "")
}
