package filter

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/internal/mimeparam"
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
	mediaType string   // lowercased "type/subtype"
	filenames []string // from Content-Disposition filename and Content-Type name
	// text is the content of a text/* part, base64 or quoted-printable
	// decoded, cut at maxTextPartScan bytes.
	text []byte
}

// walker collects the parts of one message.
type walker struct {
	parts    []mimePart
	entities int
	cut      string // why the walk stopped short of the whole message
	// decoded is what the base64 or quoted-printable attached messages
	// walked so far took to decode; budget bounds it (walkMIME).
	decoded, budget int
}

// walkMIME returns the parts of a message whose top-level header fields
// are read through get (values unfolded) and whose body is body, and,
// when the message goes past the walk's limits, which one.
func walkMIME(get func(string) string, body []byte) (parts []mimePart, cut string) {
	// Twice the message: an attached message encoded at two levels is
	// walked, and no hostile nesting costs more.
	w := &walker{budget: 2 * len(body)}
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
	if boundary := params.Get("boundary"); strings.HasPrefix(mt, "multipart/") && boundary != "" {
		if depth < maxMIMEDepth {
			w.multipart(body, boundary, depth)
		} else {
			w.cut = fmt.Sprintf("MIME nesting deeper than %d levels", maxMIMEDepth)
		}
		return
	}
	p := mimePart{mediaType: mt, filenames: filenames(get("Content-Disposition"), get("Content-Type"))}
	cte := strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "text/"):
		// The text converted to UTF-8, so that a rule written in UTF-8
		// matches "café" sent in ISO-8859-1 as the recipient sees it (a
		// regular expression reads a Latin-1 "é" as an invalid byte).
		p.text = mimeparam.ToUTF8(params.Get("charset"), decodeText(cte, body, maxTextPartScan), maxTextPartScan)
	case (mt == "message/rfc822" || mt == "message/global") && depth >= maxMIMEDepth:
		w.cut = fmt.Sprintf("MIME nesting deeper than %d levels", maxMIMEDepth)
	case mt == "message/rfc822" || mt == "message/global":
		// RFC 2046 §5.2.1: an attached message is itself a message to walk.
		w.parts = append(w.parts, p)
		if cte == "base64" || cte == "quoted-printable" {
			// RFC 2046 §5.2.1 allows neither here, but a client decodes
			// it: the decoded copy is walked, within a budget, or a
			// message nesting 99 such levels costs 99 copies of itself.
			if w.decoded += len(body); w.decoded > w.budget {
				w.cut = "encoded attached messages larger than the message"
				return
			}
			body = decodeCTE(cte, body)
		}
		h, inner := splitEntity(body)
		w.entity(h.Get, inner, depth+1)
		return
	}
	w.parts = append(w.parts, p)
}

// multipart walks the body parts of a multipart entity (RFC 2046 §5.1),
// each a slice of body (see multipartParts).
func (w *walker) multipart(body []byte, boundary string, depth int) {
	for part := range multipartParts(body, boundary) {
		h, data := splitEntity(part)
		if w.entities >= maxMIMEParts {
			w.cut = fmt.Sprintf("more than %d MIME parts", maxMIMEParts)
			return
		}
		w.entity(h.Get, data, depth+1)
	}
}

// mediaType parses a Content-Type value. A missing or unparseable one is
// text/plain (RFC 2045 §5.2); a type whose parameters are broken keeps its
// type, so that "application/x-msdownload; ;name=x" is still recognised,
// and its parameters are read leniently (mimeparam.Parse).
func mediaType(v string) (string, mimeparam.Params) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", mimeparam.Params{}
	}
	mt, _, err := mime.ParseMediaType(v)
	if mt == "" || err != nil && err != mime.ErrInvalidMediaParameter {
		t, _, _ := strings.Cut(v, ";")
		t = strings.ToLower(strings.TrimSpace(t))
		if strings.Count(t, "/") != 1 || strings.ContainsAny(t, " \t\"") {
			return "text/plain", mimeparam.Params{}
		}
		mt = t
	}
	return mt, mimeparam.Parse(v)
}

// filenames returns the part's file names: Content-Disposition's filename
// (RFC 2183 §2.3) and Content-Type's name, each in its RFC 2231 form and
// its plain form, RFC 2047 words decoded, without repeats. Every one is
// matched: a part that says "report.pdf" in one and "report.exe" in the
// other is saved under one of them, and which depends on the client.
func filenames(disposition, contentType string) []string {
	var out []string
	for _, v := range []string{disposition, contentType} {
		if v == "" {
			continue
		}
		p := mimeparam.Parse(v)
		for _, key := range []string{"filename", "name"} {
			for _, n := range p.All(key) {
				if n = decodeWords(n); !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// decodeText returns the first limit bytes of a text part's content, its
// Content-Transfer-Encoding undone; only what is returned is decoded.
func decodeText(cte string, body []byte, limit int) []byte {
	switch cte {
	case "base64":
		return decodeBase64(body, limit)
	case "quoted-printable":
		out, _ := io.ReadAll(io.LimitReader(quotedprintable.NewReader(bytes.NewReader(body)), int64(limit)))
		return out
	}
	return body[:min(len(body), limit)]
}

// decodeCTE undoes a Content-Transfer-Encoding (RFC 2045 §6). What decodes
// before an error is returned; an unknown encoding is left as is.
func decodeCTE(cte string, body []byte) []byte {
	var r io.Reader
	switch cte {
	case "base64":
		return decodeBase64(body, len(body))
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(body))
	default:
		return body
	}
	// Decoding never grows the data: one buffer of the encoded size
	// (and ReadFrom's margin) holds it all.
	var out bytes.Buffer
	out.Grow(len(body) + bytes.MinRead)
	_, _ = out.ReadFrom(r)
	return out.Bytes()
}

// decodeBase64 decodes a base64 body as a mail client does. RFC 2045
// §6.8: "Any characters outside of the base64 alphabet are to be ignored"
// — a space, a stray "!" or "." in the middle of a part does not stop
// Thunderbird or Outlook, so it must not stop the filter either, or a
// sender hides the rest of a text part from the body rules with one
// such byte. Padding ends a group: what follows it (bodies concatenated
// from separately encoded pieces) is decoded as a new run. Decoding stops
// once limit bytes are out.
func decodeBase64(body []byte, limit int) []byte {
	out := make([]byte, 0, min(len(body)*3/4, limit+3))
	var run []byte
	flush := func() {
		if len(run)%4 == 1 {
			run = run[:len(run)-1] // six bits are not a byte
		}
		n, want := len(out), base64.RawStdEncoding.DecodedLen(len(run))
		out = slices.Grow(out, want)
		m, _ := base64.RawStdEncoding.Decode(out[n:n+want], run)
		out = out[:n+m]
		run = run[:0]
	}
	for _, c := range body {
		if len(out)+len(run)/4*3 >= limit {
			break
		}
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			run = append(run, c)
		case c == '=':
			if len(run) > 0 {
				flush()
			}
		}
	}
	flush()
	return out[:min(len(out), limit)]
}

// unfold removes the folding (CRLF before whitespace) of a header value
// (RFC 5322 §2.2.3), and the white space around the value: a value that
// starts on a continuation line ("Subject:" CRLF " text") is "text", as a
// mail client shows it, so that a rule anchored at its start matches.
func unfold(v string) string {
	return strings.Trim(strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", ""), "\n", ""), " \t")
}
