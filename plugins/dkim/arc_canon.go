package dkim

import (
	"bytes"
	"crypto/sha256"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// ARC (RFC 8617) hashes header fields and bodies as DKIM does, but
// go-msgauth keeps its canonicalization unexported: these are RFC 6376
// §3.4's four algorithms, small enough to carry here.

// fieldText is a header field as the core will transmit it, without the
// line break that ends it: the bytes as received where the core sent
// them, else "Name: Value".
func fieldText(h sdk.Header) string {
	if len(h.Raw) > 0 {
		return string(h.Raw)
	}
	return h.Name + ": " + h.Value
}

// canonHeader canonicalizes one field, without its final CRLF: simple
// keeps it as it is (RFC 6376 §3.4.1); relaxed lowercases the name,
// unfolds, reduces runs of white space to one space and drops it around
// the colon and at the end (§3.4.2).
func canonHeader(field string, relaxed bool) string {
	if !relaxed {
		return field
	}
	name, value, _ := strings.Cut(field, ":")
	return strings.ToLower(strings.TrimRight(name, " \t")) + ":" + relaxedValue(value)
}

// relaxedValue unfolds v and reduces its white space (RFC 6376 §3.4.2).
func relaxedValue(v string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\r', '\n':
		case ' ', '\t':
			space = true
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
	}
	return b.String()
}

// canonBody canonicalizes a body (RFC 6376 §3.4.3 simple, §3.4.4
// relaxed): lines end in CRLF whatever they ended in, trailing empty
// lines go; relaxed also reduces white space within lines and drops it
// at their ends. An empty body is CRLF under simple and empty under
// relaxed.
func canonBody(body []byte, relaxed bool) []byte {
	lines := bytes.Split(body, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the body ended with a line break
	}
	out := make([][]byte, 0, len(lines))
	for _, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if relaxed {
			l = []byte(strings.TrimRight(relaxedLine(l), " "))
		}
		out = append(out, l)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		if relaxed {
			return nil
		}
		return []byte("\r\n")
	}
	var b bytes.Buffer
	b.Grow(len(body) + 2*len(out))
	for _, l := range out {
		b.Write(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// relaxedLine reduces each run of spaces and tabs in l to one space.
func relaxedLine(l []byte) string {
	var b strings.Builder
	b.Grow(len(l))
	space := false
	for _, c := range l {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

// bodyHash is the SHA-256 of the canonicalized body (bh=).
func bodyHash(body []byte, relaxed bool) []byte {
	h := sha256.Sum256(canonBody(body, relaxed))
	return h[:]
}

// withEmptyB is a signature field with the value of its b= tag deleted,
// surrounding white space included, as it is hashed (RFC 6376 §3.7;
// RFC 8617 §4.1.2 and §4.1.3 for the AMS and the AS).
func withEmptyB(field string) string {
	colon := strings.IndexByte(field, ':')
	if colon < 0 {
		return field
	}
	start := colon + 1
	for start <= len(field) {
		end := strings.IndexByte(field[start:], ';')
		if end < 0 {
			end = len(field)
		} else {
			end += start
		}
		tag := field[start:end]
		if k, _, ok := strings.Cut(tag, "="); ok && strings.TrimSpace(relaxedValue(k)) == "b" {
			eq := start + strings.IndexByte(tag, '=') + 1
			return field[:eq] + field[end:]
		}
		start = end + 1
	}
	return field
}

// pickFields returns the fields h= names, each occurrence taken from the
// bottom of the header up (RFC 6376 §5.4.2); a name with no occurrence
// left contributes nothing.
func pickFields(hs []sdk.Header, names []string) []sdk.Header {
	at := map[string][]int{}
	for i, h := range hs {
		k := strings.ToLower(h.Name)
		at[k] = append(at[k], i)
	}
	var out []sdk.Header
	for _, n := range names {
		k := strings.ToLower(strings.TrimSpace(n))
		if idx := at[k]; len(idx) > 0 {
			out = append(out, hs[idx[len(idx)-1]])
			at[k] = idx[:len(idx)-1]
		}
	}
	return out
}
