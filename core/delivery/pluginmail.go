package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// PluginMailOptions configure PluginMail.
type PluginMailOptions struct {
	Queue TLSReportQueue // *queue.Store
	// Filter runs a message through the pipeline's bounce hook, as every
	// message Sluice generates (BounceOptions.Filter).
	Filter  func(ctx context.Context, report *envelope.Message, body []byte) (pipeline.BounceResult, error)
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Hostname names this host in the Received field at the top of each
	// message.
	Hostname string
	// FreeSpace reports the bytes free for the queue (queue.Store's): a
	// message that would leave fewer than MinFree() (queue_minfree as it
	// runs now; a reload changes it) is refused, as the listener answers
	// 452 4.3.1. Nil FreeSpace or MinFree, or a negative MinFree(): no
	// check.
	FreeSpace func() (int64, error)
	MinFree   func() int64
	// MaxRecipients is [limits] max_recipients as it runs now (a reload
	// changes it): a message to more is refused, as SMTP refuses the
	// RCPT past it. Nil or <= 0: no bound.
	MaxRecipients func() int
}

// PluginMail queues the messages plugins send through their sdk.Mailer
// (reports, notifications, auto-replies), as Haraka's outbound.send_email
// does for its plugins: each goes through the bounce hook and into the
// queue as Sluice's own reports do (queueGenerated).
type PluginMail struct{ opt PluginMailOptions }

// NewPluginMail makes a PluginMail.
func NewPluginMail(opt PluginMailOptions) *PluginMail {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &PluginMail{opt: opt}
}

// Send queues m, sent by the plugin of stage, and returns its queue id
// ("" when a bounce hook stage dropped it). maxSize is [limits]
// max_message_size. The message is refused when it has no recipient, an
// address that is no mailbox (as the pipeline checks a stage's envelope
// edits), is empty or over maxSize (its lines ending in CRLF), has more
// recipients than max_recipients, or a header section that is not one or
// has no From field (pluginHeaderError); or when queueing it would leave
// less than queue_minfree free.
//
// The core adds a Received field at the top, naming the stage and the
// queue id (pluginReceived); the plugin writes every other field.
//
// Its kind is envelope.ReportPlugin: from a sender, it bounces to that
// sender as any mail does; from the null sender, an undeliverable one
// goes to double_bounce_to, as a report does.
func (p *PluginMail) Send(ctx context.Context, stage string, maxSize int64, m sdk.OutgoingMessage) (string, error) {
	if err := checkPluginMail(m, maxSize); err != nil {
		return "", err
	}
	q := p.opt.Queue
	if q == nil {
		return "", errors.New("no queue")
	}
	body := crlfMessage(m.Message)
	if err := pluginHeaderError(body); err != nil {
		return "", err
	}
	if maxSize > 0 && int64(len(body)) > maxSize {
		// Bare LFs made CRLF may have taken it over the limit.
		return "", fmt.Errorf("message of %d bytes with CRLF line ends over max_message_size (%d)", len(body), maxSize)
	}
	if n := p.maxRcpts(); n > 0 && len(m.To) > n {
		return "", fmt.Errorf("%d recipients, over max_recipients (%d)", len(m.To), n)
	}
	now := p.opt.Clock()
	id := q.NewID()
	body = append([]byte(pluginReceived(p.opt.Hostname, stage, id, now)), body...)
	msg := &envelope.Message{
		ID:          id,
		From:        m.From,
		Received:    now,
		Report:      envelope.ReportPlugin,
		State:       envelope.StateActive,
		NextAttempt: now,
		SMTPUTF8:    !ascii(m.From),
	}
	for _, addr := range m.To {
		msg.Rcpts = append(msg.Rcpts, envelope.Recipient{Addr: addr, Status: envelope.RcptPending})
		msg.SMTPUTF8 = msg.SMTPUTF8 || !ascii(addr)
	}
	log := p.opt.Logger.With("id", msg.ID, "stage", stage)
	qid, err := queueGenerated(ctx, q, p.opt.Filter, generated{msg: msg, body: body,
		log: log, what: "plugin mail", noun: "message", live: true,
		space: queueSpace{free: p.opt.FreeSpace, min: p.opt.MinFree},
		trace: func(hook []byte, dropped bool) []byte { return pluginMailTrace(msg.ID, stage, hook, dropped) }})
	if err != nil {
		log.Warn("plugin mail: not queued", "from", m.From, "to", m.To, "err", err)
		return "", err
	}
	if qid != "" {
		log.Info("plugin mail: queued", "from", m.From, "to", rcptAddrs(msg))
		p.opt.Metrics.ReportQueued(string(envelope.ReportPlugin))
	}
	return qid, nil
}

// checkPluginMail refuses what the queue should not take.
func checkPluginMail(m sdk.OutgoingMessage, maxSize int64) error {
	if len(m.To) == 0 {
		return errors.New("no recipient")
	}
	if m.From != "" {
		if err := envelope.MailboxError(m.From); err != nil {
			return fmt.Errorf("from %q: %v", m.From, err)
		}
	}
	for _, addr := range m.To {
		if err := envelope.MailboxError(addr); err != nil {
			return fmt.Errorf("to %q: %v", addr, err)
		}
	}
	switch {
	case len(m.Message) == 0:
		return errors.New("empty message")
	case maxSize > 0 && int64(len(m.Message)) > maxSize:
		return fmt.Errorf("message of %d bytes over max_message_size (%d)", len(m.Message), maxSize)
	}
	return nil
}

// maxRcpts is the most recipients a message may have, 0 for no bound.
func (p *PluginMail) maxRcpts() int {
	if p.opt.MaxRecipients == nil {
		return 0
	}
	return p.opt.MaxRecipients()
}

// pluginReceived is the trace field the core puts at the top of plugin
// mail (RFC 5321 §4.4), as Postfix's pickup does on mail sendmail
// submits ("by HOST (Postfix, from userid N) id QID"): it names the stage
// that sent it, and the queue id, which sluice trace takes, is found in a
// delivered message. It is written before the bounce hook runs, so that a
// dkim sign stage that signs Received fields signs it too.
func pluginReceived(host, stage, id string, now time.Time) string {
	return bounce.ReceivedNote(host, "from stage "+stage, id, now)
}

// pluginMailTrace is the stored trace of plugin mail id: it names the
// stage that sent it, and keeps what the bounce hook's stages did.
func pluginMailTrace(id, stage string, hook []byte, dropped bool) []byte {
	tr := pipeline.Trace{ID: id}
	if hook != nil {
		_ = json.Unmarshal(hook, &tr)
	}
	outcome := "queued by stage " + stage
	if dropped {
		outcome = "sent by stage " + stage
	}
	if tr.Outcome != "" && tr.Outcome != "queued" {
		outcome += "; bounce hook: " + tr.Outcome
	}
	tr.Outcome = outcome
	b, _ := json.Marshal(tr)
	return b
}

// crlfMessage ends every line of a plugin's message with CRLF (RFC 5322
// §2.3), a bare LF or CR alike, and the message itself with one.
func crlfMessage(b []byte) []byte {
	out := pipeline.CRLFLines(b)
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		// Capped: out may be the plugin's own bytes, whose spare
		// capacity is not ours to write.
		out = append(out[:len(out):len(out)], '\r', '\n')
	}
	return out
}
