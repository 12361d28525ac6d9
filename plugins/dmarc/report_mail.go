package dmarc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/internal/mimebody"
)

// fileName is the attachment's name (RFC 7489 §7.2.1.1): receiver "!"
// policy-domain "!" begin "!" end, ".xml.gz" for a gzipped XML file.
func (rep *dayReport) fileName(submitter string) string {
	return submitter + "!" + rep.domain + "!" + strconv.FormatInt(rep.begin.Unix(), 10) + "!" + strconv.FormatInt(rep.end.Unix(), 10) + ".xml.gz"
}

// reportMessage is the report as a message (RFC 7489 §7.2.1.1): a
// multipart/mixed of a line of text and the gzipped XML as an
// application/gzip attachment, with the Subject the RFC asks for, From
// the configured email, and Auto-Submitted (RFC 3834 §5) so that no
// vacation reply answers it.
func reportMessage(rep *dayReport, rc ReportsConfig, to []string, gz []byte, now time.Time) []byte {
	id := rep.feedback.Metadata.ReportID
	boundary := "dmarc-" + randomHex()
	var b bytes.Buffer
	field := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	field("From", "<"+rc.Email+">")
	field("To", "<"+strings.Join(to, ">,\r\n\t<")+">")
	field("Subject", "Report Domain: "+rep.domain+"\r\n\tSubmitter: "+rc.Submitter+"\r\n\tReport-ID: <"+id+">")
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", "<"+randomHex()+"."+id+">")
	field("Auto-Submitted", "auto-generated")
	field("MIME-Version", "1.0")
	field("Content-Type", `multipart/mixed;`+"\r\n\t"+`boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", "text/plain; charset=us-ascii")
	field("Content-Transfer-Encoding", "7bit")
	b.WriteString("\r\nThis is an aggregate DMARC report (RFC 7489) from " + rc.Submitter + " about mail from " + rep.domain +
		",\r\nfor " + rep.begin.Format(time.RFC3339) + " to " + rep.end.Format(time.RFC3339) + ".\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", `application/gzip;`+"\r\n\t"+`name="`+rep.fileName(rc.Submitter)+`"`)
	field("Content-Transfer-Encoding", "base64")
	field("Content-Disposition", `attachment;`+"\r\n\t"+`filename="`+rep.fileName(rc.Submitter)+`"`)
	b.WriteString("\r\n")
	b.WriteString(mimebody.Base64(gz))
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
