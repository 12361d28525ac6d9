package smtpd

import (
	"bytes"

	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/mailhdr"
)

// tooManyHops answers a message with more Received: fields than
// [limits] max_hops: it is going round in a loop between mail systems
// (RFC 5321 §6.3), and each pass would add a field and a copy; Postfix's
// cleanup refuses it the same way (hopcount_limit, "too many hops"),
// though it counts its own Received: field too, so it refuses one field
// sooner.
// RFC 3463 X.4.6: routing loop detected.
var tooManyHops = reply.Reply{Code: 554, Enhanced: [3]int{5, 4, 6}, Text: "Too many hops: mail loop detected"}

// receivedFields counts the Received: fields in hdr, the header section
// of a message, stopping once it has seen more than max.
func receivedFields(hdr []byte, max int) int {
	n := 0
	for rest := hdr; len(rest) > 0 && n <= max; {
		f, ok := mailhdr.Field(rest)
		if !ok {
			break
		}
		if f.Name == len("Received") && bytes.EqualFold(rest[:f.Name], []byte("Received")) {
			n++
		}
		rest = rest[f.End:]
	}
	return n
}
