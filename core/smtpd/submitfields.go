package smtpd

import (
	"bytes"
	"time"

	"github.com/sluice-mta/sluice/internal/mailhdr"
)

// submissionFields returns the Date and Message-ID fields that hdr, the
// header section of a message an authenticated client submitted, lacks:
// RFC 6409 §8.2 lets a submission server add Date, and §8.3 says it
// should add Message-ID, which receivers such as Gmail require. Postfix
// adds both for the clients local_header_rewrite_clients names. The
// Message-ID is the queue id at our hostname, unique as the id is.
func submissionFields(hdr []byte, id, host string, now time.Time) []byte {
	hasDate, hasID := false, false
	for rest := hdr; len(rest) > 0; {
		f, ok := mailhdr.Field(rest)
		if !ok {
			break
		}
		name := rest[:f.Name]
		hasDate = hasDate || bytes.EqualFold(name, []byte("Date"))
		hasID = hasID || bytes.EqualFold(name, []byte("Message-ID"))
		rest = rest[f.End:]
	}
	var add []byte
	if !hasDate {
		add = append(add, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !hasID {
		add = append(add, "Message-ID: <"+id+"@"+host+">\r\n"...)
	}
	return add
}
