// Package mimebody encodes the body of a MIME part, one rule for the
// reports the core and the plugins write as attachments (TLS-RPT in
// core/delivery, DMARC aggregate reports in plugins/dmarc).
package mimebody

import "encoding/base64"

// Base64 is data as the body of a part of Content-Transfer-Encoding
// base64: lines of at most 76 characters (RFC 2045 §6.8), each ended by
// CRLF, the last one too.
func Base64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	out := make([]byte, 0, len(enc)+len(enc)/76*2+2)
	for len(enc) > 76 {
		out = append(out, enc[:76]...)
		out = append(out, '\r', '\n')
		enc = enc[76:]
	}
	out = append(out, enc...)
	return string(append(out, '\r', '\n'))
}
