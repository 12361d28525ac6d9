package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/core/smtpd"
	"github.com/sluice-mta/sluice/internal/authres"
	"github.com/sluice-mta/sluice/sdk"
)

// pipelinePolicy runs the configured pipeline at every SMTP step; it is
// the bridge between the listener's Policy and pipeline.Session.
type pipelinePolicy struct {
	p        *pipeline.Pipeline
	hostname string // authserv-id of Authentication-Results
	log      *slog.Logger
}

func (pp pipelinePolicy) session(info *smtpd.SessionInfo) *pipeline.Session {
	ps, _ := info.State.(*pipeline.Session)
	return ps
}

// Connect opens the pipeline session (milters connect here) and runs the
// connect hook. On an implicit-TLS listener the handshake is done by now,
// so the stages know the session's TLS state from here on. After
// XCLIENT, which opens another under the same ID, the transactions are
// numbered on from the connection's MAIL commands: a plugin keeping
// state by session ID and transaction number (the filter) must not take
// the new client's first transaction for the proxy's first one.
func (pp pipelinePolicy) Connect(ctx context.Context, info *smtpd.SessionInfo) *reply.Reply {
	sess := sdk.Session{
		ID:          info.ID,
		ClientIP:    info.Client.Addr().String(),
		ClientPort:  int(info.Client.Port()),
		ClientName:  info.ClientName,
		Listener:    info.Listener,
		RelayClient: info.RelayClient,
		Transaction: info.Mails,
	}
	setTLS(&sess, info)
	if info.Local.IsValid() {
		sess.LocalIP, sess.LocalPort = info.Local.Addr().String(), int(info.Local.Port())
	}
	ps := pp.p.Open(ctx, sess)
	info.State = ps
	return ps.Connect(ctx).Reply
}

func (pp pipelinePolicy) Helo(ctx context.Context, info *smtpd.SessionInfo) *reply.Reply {
	ps := pp.session(info)
	if ps == nil {
		return nil
	}
	// After STARTTLS, the first the stages hear of TLS.
	ps.SetSession(func(s *sdk.Session) { setTLS(s, info) })
	return ps.Helo(ctx, info.Helo).Reply
}

func (pp pipelinePolicy) Mail(ctx context.Context, info *smtpd.SessionInfo, from string) *reply.Reply {
	ps := pp.session(info)
	if ps == nil {
		return nil
	}
	// Who authenticated (RFC 4954), for this and the later hooks.
	ps.SetSession(func(s *sdk.Session) { s.AuthUser, s.AuthMech = info.AuthUser, info.AuthMech })
	return ps.Mail(ctx, from, mailParams(info)).Reply
}

// setTLS gives s the session's TLS state.
func setTLS(s *sdk.Session, info *smtpd.SessionInfo) {
	s.TLS, s.TLSVersion, s.TLSCipher, s.TLSCipherBits = info.TLS, info.TLSVersion, info.TLSCipher, info.TLSCipherBits
}

func (pp pipelinePolicy) Rcpt(ctx context.Context, info *smtpd.SessionInfo, rc *envelope.Recipient) *reply.Reply {
	ps := pp.session(info)
	if ps == nil {
		return nil
	}
	r, o := ps.Rcpt(ctx, sdk.Recipient{Addr: rc.Addr, Route: rc.Route, Params: delivery.RcptParams(rc)})
	rc.Route, rc.RouteBy = r.Route, ps.RouteBy(r.Addr)
	return o.Reply
}

// Data runs the data hook over the message and carries the stages' edits,
// disposition and trace back to the listener.
func (pp pipelinePolicy) Data(ctx context.Context, info *smtpd.SessionInfo, tx *smtpd.Transaction) *reply.Reply {
	ps := pp.session(info)
	if ps == nil {
		return nil
	}
	msg, o := runData(ctx, ps, tx.Envelope.ID, pp.hostname, tx.Body)
	outcome := o.Action.String()
	if o.Reply != nil {
		outcome += ": " + o.Reply.String()
		tx.Trace, _ = json.Marshal(pipeline.Trace{ID: tx.Envelope.ID, Entries: ps.Trace(), Outcome: outcome})
		return o.Reply
	}
	if stage := decidedBy(ps, o); stage != "" {
		outcome += " by stage " + stage
	}
	tx.Body = msg.Bytes()
	for _, bad := range applyEnvelope(tx.Envelope, ps.Envelope()) {
		pp.logger().Warn("pipeline: DSN parameter of an envelope edit ignored", "id", tx.Envelope.ID, "err", bad)
	}
	for i := range tx.Envelope.Rcpts {
		// Who set each route, for the deliver hook (pipeline.RouteBy).
		tx.Envelope.Rcpts[i].RouteBy = ps.RouteBy(tx.Envelope.Rcpts[i].Addr)
	}
	// The notes as they stand now, for the deliver and bounce hooks.
	notes := ps.Notes()
	tx.Envelope.SessionNotes, tx.Envelope.TxnNotes = notes.Session, notes.Txn
	switch {
	case len(tx.Envelope.Rcpts) == 0 && o.Action != sdk.ActionDiscard:
		// Every recipient was removed: nothing to deliver, nor to hold
		// (the trace says so: not queued, not in the quarantine).
		tx.Discard = true
		was := outcome
		outcome = "discard: no recipient left"
		if o.Action == sdk.ActionQuarantine {
			outcome += " (" + was + ")"
		}
	case o.Action == sdk.ActionDiscard:
		tx.Discard = true
	case o.Action == sdk.ActionQuarantine:
		tx.Envelope.State = envelope.StateQuarantined
	}
	tx.Trace, _ = json.Marshal(pipeline.Trace{ID: tx.Envelope.ID, Entries: ps.Trace(), Outcome: outcome})
	return nil
}

// decidedBy is the stage that decided o, the data hook's outcome, when
// it is a discard or quarantine (decided at any hook): with a quarantine
// the first stage that set the message aside, since the later stages
// were asked too and the last trace entry need not be its; "" for any
// other outcome. The trace's outcome and sluice replay name it.
func decidedBy(ps *pipeline.Session, o pipeline.Outcome) string {
	if o.Reply != nil {
		return ""
	}
	if a, stage := ps.Disposition(); a == o.Action {
		return stage
	}
	return ""
}

// runData runs the data hook over body, a received message under our
// Received field, and returns the message as it is to be queued. The
// listener's path (Data) and sluice replay share it, so that replay shows
// what would be queued:
//
//   - the envelope's queue id is id;
//   - Authentication-Results fields that claim hostname, our authserv-id,
//     are removed before any stage sees them (RFC 8601 §5);
//   - when the stages let the message through, one field with every
//     method's result they reported goes second in the header: below our
//     Received field, or below a field a stage put above it (the spf
//     stage's Received-SPF).
func runData(ctx context.Context, ps *pipeline.Session, id, hostname string, body []byte) (*pipeline.Message, pipeline.Outcome) {
	ps.Envelope().QueueID = id
	msg := pipeline.ParseMessage(body)
	dropForgedAuthResults(msg, hostname)
	o := ps.Data(ctx, msg)
	if o.Reply != nil {
		return msg, o
	}
	if ar := ps.AuthResults(); len(ar) > 0 {
		msg.Insert(1, "Authentication-Results", authres.Value(hostname, ar))
	}
	return msg, o
}

// applyEnvelope carries the stages' envelope edits into the queue's
// envelope. The DSN parameters (RFC 3461 §4) a stage gave a sender or a
// recipient (SetSender, AddRecipient: ESMTP parameters, see
// delivery.ParseRcptParams) replace the client's; a recipient that comes
// back with no parameters, or with those it was given, keeps its own. As
// the pipeline does with an edit that cannot apply, a malformed parameter
// is ignored, not the edit: the recipient is still delivered, with the
// defaults of one that gave no such parameter, and the error is returned
// for the log.
func applyEnvelope(m *envelope.Message, e *sdk.Envelope) []error {
	var bad []error
	m.From = e.MailFrom
	if e.MailParams != nil && !maps.Equal(e.MailParams, delivery.MailParams(m.DSNRet, m.DSNEnvID)) {
		ret, envID, err := delivery.ParseMailParams(e.MailParams)
		if err != nil {
			bad = append(bad, fmt.Errorf("sender <%s>: %w", e.MailFrom, err))
		}
		m.DSNRet, m.DSNEnvID = ret, envID
	}
	old := map[string]envelope.Recipient{}
	for _, r := range m.Rcpts {
		old[strings.ToLower(r.Addr)] = r
	}
	rcpts := make([]envelope.Recipient, 0, len(e.Rcpts))
	seen := map[string]bool{}
	for _, r := range e.Rcpts {
		k := strings.ToLower(r.Addr)
		if seen[k] {
			continue
		}
		seen[k] = true
		nr, ok := old[k]
		if !ok {
			nr = envelope.Recipient{Addr: r.Addr, Status: envelope.RcptPending}
		}
		if r.Params != nil && !(ok && maps.Equal(r.Params, delivery.RcptParams(&nr))) {
			notify, orcpt, err := delivery.ParseRcptParams(r.Params)
			if err != nil {
				bad = append(bad, fmt.Errorf("recipient <%s>: %w", r.Addr, err))
			}
			nr.Notify, nr.ORcpt = notify, orcpt
		}
		nr.Route = r.Route
		rcpts = append(rcpts, nr)
	}
	m.Rcpts = rcpts
	return bad
}

func (pp pipelinePolicy) logger() *slog.Logger {
	if pp.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return pp.log
}

func (pp pipelinePolicy) Reset(ctx context.Context, info *smtpd.SessionInfo) {
	if ps := pp.session(info); ps != nil {
		ps.Reset(ctx)
	}
}

func (pp pipelinePolicy) Close(info *smtpd.SessionInfo) {
	if disconnect := pp.end(info); disconnect != nil {
		disconnect(context.Background())
	}
}

// end ends the pipeline session and returns its stages' disconnect hooks
// (pipeline.Session.End) for livePolicy to run once the client is gone;
// nil when there are none.
func (pp pipelinePolicy) end(info *smtpd.SessionInfo) func(context.Context) {
	if ps := pp.session(info); ps != nil {
		return ps.End()
	}
	return nil
}

var _ smtpd.Policy = pipelinePolicy{}

// authPipelinePolicy is pipelinePolicy with a say in AUTH; the daemon uses
// it only when a stage declared the auth hook, so listeners offer AUTH to
// plugins only when one can check credentials.
type authPipelinePolicy struct{ pipelinePolicy }

// Auth runs the pipeline's auth hook. On a listener that no stage with
// an auth hook serves (their listeners leave it out) it leaves AUTH to the
// user database at once, as a pipeline without one does: with
// delay_reject, asking the pipeline would ask the held connect and helo
// hooks of a session that may end before any other decision.
func (pp authPipelinePolicy) Auth(ctx context.Context, info *smtpd.SessionInfo, mech, user string, secret []byte) smtpd.AuthVerdict {
	ps := pp.session(info)
	if ps == nil || !pp.p.DeclaresFor(sdk.HookAuth, info.Listener) {
		return smtpd.AuthVerdict{}
	}
	o := ps.Auth(ctx, mech, user, secret)
	switch {
	case o.Reply != nil:
		return smtpd.AuthVerdict{Decision: smtpd.AuthRefuse, Reply: o.Reply}
	case o.Action == sdk.ActionAccept:
		return smtpd.AuthVerdict{Decision: smtpd.AuthAccept}
	}
	return smtpd.AuthVerdict{}
}

var _ smtpd.AuthPolicy = authPipelinePolicy{}
