package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// mail queues rep, gzipped in gz, as one message to the mailto: addresses
// to (RFC 8460 §5.3), through the bounce hook as every report Sluice
// generates. It returns the queue id, "" when the hook dropped it.
//
// The message goes from the null reverse-path, as Sluice's bounces do: a
// report that cannot be delivered is not reported on in turn (it goes
// to double_bounce_to, when set). Its delivery is neither held back by
// the recipient domain's TLS policies nor counted in tomorrow's report
// (RFC 8460 §3; envelope.ReportTLSRPT).
func (r *TLSReports) mail(ctx context.Context, rep *tlsReport, id config.TLSReporting, to []string, gz []byte) (string, error) {
	q := r.opt.Queue
	if q == nil {
		return "", errors.New("no queue")
	}
	now := r.clock()
	m := &envelope.Message{
		ID:          q.NewID(),
		Received:    now,
		Report:      envelope.ReportTLSRPT,
		State:       envelope.StateActive,
		NextAttempt: now,
	}
	for _, addr := range to {
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: addr, Status: envelope.RcptPending})
		m.SMTPUTF8 = m.SMTPUTF8 || !ascii(addr)
	}
	raw := tlsReportMessage(rep, id, r.opt.Hostname, m.ID, to, gz, now)
	var trace []byte
	if f := r.opt.Filter; f != nil {
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := f(fctx, m, raw)
		cancel()
		trace = res.Trace
		switch {
		case err != nil:
			r.opt.Logger.Warn("tlsrpt: bounce hook failed, report queued unchanged", "report", m.ID, "err", err)
		case res.Drop:
			r.opt.Logger.Info("tlsrpt: report dropped by the bounce hook", "report", m.ID, "to", to)
			if tp, ok := q.(TracePutter); ok && trace != nil {
				_ = tp.PutTrace(m.ID, trace)
			}
			return "", nil
		default:
			if res.Unchanged != "" {
				r.opt.Logger.Warn("tlsrpt: bounce hook failed, report queued as generated", "report", m.ID, "why", res.Unchanged)
			}
			// As a bounce's: a stage may have readdressed it (an rua
			// that is an alias of ours with one target goes to the
			// target), routed by the routes set for the new address.
			raw = queueAsHookSays(m, raw, res)
		}
	}
	m.Size, m.Body8Bit = int64(len(raw)), !ascii(string(raw))
	if err := q.EnqueueMany([]queue.Queued{{Msg: m, Body: raw, Trace: trace}}); err != nil {
		return "", err
	}
	return m.ID, nil
}

// tlsReportMessage is the report as a message (RFC 8460 §5.3): a
// multipart/report of report-type tlsrpt, a line of text and the gzipped
// JSON as an application/tlsrpt+gzip attachment, with the TLS-Report-
// Domain and TLS-Report-Submitter fields and the Subject the RFC asks
// for. Sluice's trace field comes first, as on its bounces.
func tlsReportMessage(rep *tlsReport, id config.TLSReporting, hostname, qid string, to []string, gz []byte, now time.Time) []byte {
	submitter := id.TLSRPTSubmitter
	boundary := "tlsrpt-" + uniqueID()
	var b bytes.Buffer
	b.WriteString(bounce.Received(hostname, qid, now))
	field := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	field("From", "<"+id.TLSRPTFrom+">")
	field("To", "<"+strings.Join(to, ">,\r\n\t<")+">")
	field("Subject", "Report Domain: "+rep.domain+"\r\n\tSubmitter: "+submitter+"\r\n\tReport-ID: <"+rep.ReportID+">")
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", "<"+uniqueID()+"."+rep.ReportID+">")
	field("TLS-Report-Domain", rep.domain)
	field("TLS-Report-Submitter", submitter)
	field("Auto-Submitted", "auto-generated") // RFC 3834 §5: no auto-reply to it
	field("MIME-Version", "1.0")
	field("Content-Type", `multipart/report; report-type="tlsrpt";`+"\r\n\t"+`boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", "text/plain; charset=us-ascii")
	field("Content-Transfer-Encoding", "7bit")
	b.WriteString("\r\nThis is an aggregate TLS report (RFC 8460) from " + submitter + " about mail to " + rep.domain +
		",\r\nfor " + rep.DateRange.Start + " to " + rep.DateRange.End + ".\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	field("Content-Type", "application/tlsrpt+gzip")
	field("Content-Transfer-Encoding", "base64")
	field("Content-Disposition", `attachment;`+"\r\n\t"+`filename="`+rep.fileName(submitter)+`"`)
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}
