package sdktest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// ParseMessage splits a raw RFC 5322 message into header fields and body
// the way the core hands it to the data hook. Bare LF line ends are turned
// into CRLF first, so tests may write messages with "\n". Folded fields
// keep their folding (CRLF + whitespace) in Value (RFC 5322 §2.2.3), and
// every field has Raw, its bytes as received without the final CRLF, as
// the core sets it for fields no stage has edited.
func ParseMessage(raw []byte) (*sdk.Message, error) {
	raw = toCRLF(raw)
	var head, body []byte
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		body = raw[2:]
	} else if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head, body = raw[:i+2], raw[i+4:]
	} else {
		head = raw
	}
	if body == nil {
		body = []byte{}
	}
	m := &sdk.Message{Body: body, BodySize: int64(len(body))}
	for _, line := range strings.SplitAfter(string(head), "\r\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.Headers) == 0 {
				return nil, fmt.Errorf("sdktest: message starts with a continuation line %q", line)
			}
			last := &m.Headers[len(m.Headers)-1]
			last.Value += "\r\n" + strings.TrimSuffix(line, "\r\n")
			last.Raw = []byte(string(last.Raw) + "\r\n" + strings.TrimSuffix(line, "\r\n"))
			continue
		}
		field := strings.TrimSuffix(line, "\r\n")
		name, value, ok := strings.Cut(field, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("sdktest: header line without a field name: %q", line)
		}
		m.Headers = append(m.Headers, sdk.Header{Name: strings.TrimRight(name, " \t"), Value: strings.TrimLeft(value, " \t"), Raw: []byte(field)})
	}
	return m, nil
}

// Format renders m as a raw message with CRLF line ends, as the core
// does: a field with Raw as received, any other as "Name: value".
func Format(m *sdk.Message) []byte {
	var b bytes.Buffer
	for _, h := range m.Headers {
		if h.Raw != nil {
			b.Write(h.Raw)
			b.WriteString("\r\n")
			continue
		}
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	return b.Bytes()
}

// toCRLF turns every LF not preceded by CR into CRLF.
func toCRLF(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/32)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}
