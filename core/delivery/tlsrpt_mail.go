package delivery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/mimebody"
)

// mail queues rep, gzipped in gz, as one message to the mailto: addresses
// to (RFC 8460 §5.3), through the bounce hook as every report Sluice
// generates. It returns the queue id, "" when the hook dropped it.
func (r *TLSReports) mail(ctx context.Context, rep *tlsReport, id config.TLSReporting, to []string, gz []byte) (string, error) {
	g, err := r.reportMail(rep, id, to, gz)
	if err != nil {
		return "", err
	}
	return queueGenerated(ctx, r.opt.Queue, r.opt.Filter, g)
}

// reportMail is rep, gzipped in gz, as the message to the mailto:
// addresses to, for queueGenerated.
//
// The message goes from the null reverse-path, as Sluice's bounces do: a
// report that cannot be delivered is not reported on in turn (it goes
// to double_bounce_to, when set). Its delivery is neither held back by
// the recipient domain's TLS policies nor counted in tomorrow's report
// (RFC 8460 §3; envelope.ReportTLSRPT).
func (r *TLSReports) reportMail(rep *tlsReport, id config.TLSReporting, to []string, gz []byte) (generated, error) {
	q := r.opt.Queue
	if q == nil {
		return generated{}, errors.New("no queue")
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
	return generated{msg: m, body: raw,
		log: r.opt.Logger.With("report", m.ID), what: "tlsrpt", noun: "report",
		space: queueSpace{free: r.opt.FreeSpace, min: r.opt.MinFree}}, nil
}

// generated is a message Sluice makes itself, for queueGenerated: a mailed
// TLS-RPT report, a plugin's message (pluginmail.go).
type generated struct {
	msg  *envelope.Message
	body []byte
	log  *slog.Logger // names the message
	what string       // the log lines' prefix: "tlsrpt"
	noun string       // what the log lines call it: "report"
	// trace, when set, makes the stored trace from the bounce hook's
	// (nil when no stage declared the hook); dropped: the hook dropped
	// the message.
	trace func(hook []byte, dropped bool) []byte
	// live: a ctx that ended while the hook ran fails the queueing,
	// rather than queueing a message whose sender gave up on it.
	live bool
	// space refuses the message when the queue has no room for it
	// (errDiskShort).
	space queueSpace
}

// queueGenerated runs g through the bounce hook filter f (when set), as
// every message Sluice generates, and queues it as the hook says: its
// stages may sign it, readdress it (an rua that is an alias of ours with
// one target goes to the target) and route it. It returns the queue id,
// "" when the hook dropped the message. A message that would leave less
// than queue_minfree free is refused with errDiskShort before the hook
// runs, its stages not asked about what is not queued.
func queueGenerated(ctx context.Context, q TLSReportQueue, f func(context.Context, *envelope.Message, []byte) (pipeline.BounceResult, error), g generated) (string, error) {
	m, raw := g.msg, g.body
	if err := g.space.check(int64(len(raw)), g.log, g.what); err != nil {
		return "", err
	}
	var trace []byte
	if f != nil {
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := f(fctx, m, raw)
		cancel()
		trace = res.Trace
		if g.live && ctx.Err() != nil {
			return "", ctx.Err()
		}
		switch {
		case err != nil:
			g.log.Warn(g.what+": bounce hook failed, "+g.noun+" queued unchanged", "err", err)
		case res.Drop:
			g.log.Info(g.what+": "+g.noun+" dropped by the bounce hook", "to", rcptAddrs(m))
			if g.trace != nil {
				trace = g.trace(trace, true)
			}
			if tp, ok := q.(TracePutter); ok && trace != nil {
				_ = tp.PutTrace(m.ID, trace)
			}
			return "", nil
		default:
			if res.Unchanged != "" {
				g.log.Warn(g.what+": bounce hook failed, "+g.noun+" queued as generated", "why", res.Unchanged)
			}
			raw = queueAsHookSays(m, raw, res)
		}
	}
	if g.trace != nil {
		trace = g.trace(trace, false)
	}
	m.Size, m.Body8Bit = int64(len(raw)), !ascii(string(raw))
	if err := q.EnqueueMany([]queue.Queued{{Msg: m, Body: raw, Trace: trace}}); err != nil {
		return "", err
	}
	return m.ID, nil
}

// rcptAddrs are m's recipients' addresses.
func rcptAddrs(m *envelope.Message) []string {
	out := make([]string, len(m.Rcpts))
	for i, r := range m.Rcpts {
		out[i] = r.Addr
	}
	return out
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
	b.WriteString(mimebody.Base64(gz))
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}
