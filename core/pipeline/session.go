package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/sdk"
)

// PermanentError is a stage failure no retry can mend: the message
// cannot be shown to the stage at all (a header section over the plugin
// protocol's frame limit, a field larger than a milter packet). Whatever
// the stage's on_error, the client gets Reply, a 5xx: not a 451 that
// would have it retry for days, nor, under on_error continue, a pass
// without the stage, which would let a message past any filter by its
// size.
type PermanentError struct {
	Reply *reply.Reply
	Err   error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// replyHeaderTooBig is a PermanentError's answer when the header section
// is too large for a stage (RFC 3463 X.3.4, as for max_header_size).
var replyHeaderTooBig = reply.Reply{Code: 552, Enhanced: [3]int{5, 3, 4}, Text: "Message header size exceeds limit"}

// HeaderTooBig returns a PermanentError for a header section (or field)
// too large for a stage.
func HeaderTooBig(err error) error { return &PermanentError{Reply: &replyHeaderTooBig, Err: err} }

// Session runs the pipeline for one SMTP session. It is used from the
// session's goroutine only.
type Session struct {
	p       *Pipeline
	conns   []Conn  // per entry; nil when Open failed
	openErr []error // per entry
	txn     sdk.Txn
	// sessionTrace holds connect/helo entries, copied into every message.
	sessionTrace []TraceEntry
	txTrace      []TraceEntry
	// disp is a discard or quarantine decided so far (disposition.go),
	// applied at the end of the data hook; sessionDisp one decided at
	// connect or helo, which applies to every transaction of the session;
	// decided the transaction's decisions, in order, for undoing one.
	disp, sessionDisp disposition
	decided           []disposition
	// auth holds the credentials while the auth hook runs.
	auth *sdk.AuthArgs
	// With delay_reject: the hooks held back, and refusals they made that
	// last the session (connect, helo) or the transaction (mail).
	held           []heldHook
	sessionRefusal *Outcome
	txnRefusal     *Outcome
	// undo puts back what the rcpt hooks of the RCPT being decided did to
	// the transaction, for when it ends refused (envedit.go).
	undo []func()
	// routeBy names the stage that set each recipient's route, by
	// lower-cased address (routeby.go).
	routeBy map[string]string
	// asked are the stages asked a hook of the session: those owed the
	// disconnect hook when they declared it (disconnect.go).
	asked stageSet
	// notFor are the stages that do not serve the session's listener
	// (listeners.go) or client (skipnet.go): never opened nor asked.
	notFor stageSet
	// clientSkipped are those of notFor skipping the session's client
	// (skipnet.go), for the trace's reason.
	clientSkipped stageSet
	// dryOver are the milters in dry run done with the transaction,
	// dryOverSession those done with the session (dryrun.go): not asked.
	dryOver, dryOverSession stageSet
}

// Open starts a session: each stage's Open runs now (a milter connects),
// but those of stages whose listeners leave out sess.Listener or whose
// skip_networks hold sess.ClientIP. A stage
// that cannot open applies its on_error at each hook.
func (p *Pipeline) Open(ctx context.Context, sess sdk.Session) *Session {
	return p.open(ctx, sess, p.notFor(sess.Listener))
}

func (p *Pipeline) open(ctx context.Context, sess sdk.Session, notFor stageSet) *Session {
	s := &Session{p: p, conns: make([]Conn, len(p.entries)), openErr: make([]error, len(p.entries)), notFor: notFor}
	s.txn.Session = sess
	s.skipClient()
	for i, e := range p.entries {
		if s.notFor.has(i) {
			continue
		}
		c, err := e.Stage.Open(ctx, &s.txn.Session)
		if err != nil {
			s.openErr[i] = err
			continue
		}
		s.conns[i] = c
	}
	return s
}

// SetSession updates what stages know of the session (HELO name, TLS, AUTH).
func (s *Session) SetSession(fn func(*sdk.Session)) { fn(&s.txn.Session) }

// Envelope returns the transaction's envelope as stages left it.
func (s *Session) Envelope() *sdk.Envelope { return &s.txn.Envelope }

// AuthResults returns the authentication results stages reported.
func (s *Session) AuthResults() []sdk.AuthResult { return s.txn.AuthResults }

// Trace returns the trace of the session so far and the open transaction.
func (s *Session) Trace() []TraceEntry {
	out := make([]TraceEntry, 0, len(s.sessionTrace)+len(s.txTrace))
	out = append(out, s.sessionTrace...)
	return append(out, s.txTrace...)
}

// Reset ends the transaction: the envelope, its notes, its trace and any
// discard or quarantine decision are forgotten; stages are told.
func (s *Session) Reset(ctx context.Context) {
	s.txn.Envelope = sdk.Envelope{}
	s.txn.AuthResults = nil
	s.txn.Notes = nil
	s.routeBy = nil
	s.txTrace = s.txTrace[:0] // Trace copies; the next transaction reuses it
	s.disp, s.decided = s.sessionDisp, s.decided[:0]
	s.endDryTxn()
	s.dropHeldMail()
	for _, c := range s.conns {
		if c != nil {
			c.Reset(ctx)
		}
	}
}

// Connect runs the connect hook (with delay_reject, holds it back).
func (s *Session) Connect(ctx context.Context) Outcome {
	if s.p.delay {
		return s.hold(sdk.HookConnect)
	}
	return s.run(ctx, sdk.HookConnect, nil, nil)
}

// Helo runs the helo hook for name (with delay_reject, holds it back).
func (s *Session) Helo(ctx context.Context, name string) Outcome {
	s.txn.Session.Helo = name
	if s.p.delay {
		return s.hold(sdk.HookHelo)
	}
	return s.run(ctx, sdk.HookHelo, nil, nil)
}

// Mail runs the mail hook for a new transaction (with delay_reject, holds
// it back). The transaction gets the session's next number, which every
// later hook of it carries: a plugin is told nothing of RSET, and is not
// asked at a MAIL a stage before it accepted, so the number is how it
// tells one transaction's calls from the next one's.
func (s *Session) Mail(ctx context.Context, from string, params map[string]string) Outcome {
	s.txn.Envelope = sdk.Envelope{MailFrom: from, MailParams: params}
	s.txn.Notes = nil // a MAIL without RSET starts a new transaction too
	s.txn.Session.Transaction++
	s.routeBy = nil
	s.endDryTxn()
	if s.p.delay {
		return s.hold(sdk.HookMail)
	}
	return s.run(ctx, sdk.HookMail, nil, nil)
}

// Rcpt runs the rcpt hook (with delay_reject, after the hooks held back);
// on success the recipient (with any route a stage set) joins the envelope
// and is returned. A refused recipient leaves the transaction as it found
// it: what stages did at its rcpt hook before one refused it is undone.
func (s *Session) Rcpt(ctx context.Context, rcpt sdk.Recipient) (sdk.Recipient, Outcome) {
	var o Outcome
	s.beginRcpt()
	if s.p.delay {
		if r, ok := s.refused(); ok {
			return rcpt, r
		}
		// A refusal in the flush, at the rcpt hook or at a held one,
		// refuses this recipient: it comes back here, not OK.
		o = s.flush(ctx, &rcpt)
	} else {
		o = s.run(ctx, sdk.HookRcpt, &rcpt, nil)
	}
	if o.OK() {
		s.txn.Envelope.Rcpts = append(s.txn.Envelope.Rcpts, rcpt)
	} else {
		s.undoRcpt()
	}
	return rcpt, o
}

// Data runs the data hook over msg, editing it and the envelope in place.
// The outcome's action is discard or quarantine when a stage (here or at
// an earlier hook) decided so, and no later one refused the message.
func (s *Session) Data(ctx context.Context, msg *Message) Outcome {
	if s.p.delay {
		if o := s.flush(ctx, nil); !o.OK() {
			return o
		}
		if r, ok := s.refused(); ok {
			return r
		}
	}
	o := s.run(ctx, sdk.HookData, nil, msg)
	if o.OK() && s.disp.action != sdk.ActionContinue {
		o.Action = s.disp.action
	}
	return o
}

// run calls every stage that wants hook, in order.
func (s *Session) run(ctx context.Context, hook sdk.Hook, rcpt *sdk.Recipient, msg *Message) Outcome {
	mark := s.markDisp()
	for i, e := range s.p.entries {
		c := s.conns[i]
		if s.notFor.has(i) {
			if hook == sdk.HookData {
				s.addTrace(hook, s.skippedEntry(e, i))
			}
			continue
		}
		if c != nil && !c.Wants(hook) || s.dryOver.has(i) {
			continue
		}
		te := newTraceEntry(e, hook, rcpt)
		start := s.p.now()
		var v sdk.Verdict
		var err error
		if c == nil {
			err = fmt.Errorf("%w: %v", ErrStageDown, s.openErr[i])
		} else {
			s.asked.add(i)
			v, err = s.call(ctx, e, c, hook, rcpt, msg)
		}
		o, goOn := s.settle(e, hook, &te, v, err, s.p.now().Sub(start), rcpt, msg)
		s.addTrace(hook, te)
		if !goOn {
			if o.Reply != nil && (hook == sdk.HookConnect || hook == sdk.HookHelo || hook == sdk.HookMail) {
				// A discard or quarantine decided at a refused command
				// does not stay (at rcpt, the undo log does it).
				s.undoDisp(mark)
			}
			return o
		}
	}
	return Outcome{Action: sdk.ActionContinue}
}

func newTraceEntry(e *entry, hook sdk.Hook, rcpt *sdk.Recipient) TraceEntry {
	te := TraceEntry{Stage: e.Name, Hook: hook}
	if rcpt != nil {
		te.Rcpt = rcpt.Addr
	}
	return te
}

// settle records one stage's answer at hook (a verdict, or err when the
// call failed) in te and the stage's counters, applies the verdict's edits
// and decides: goOn means the next stage is asked; otherwise o is the
// hook's outcome (an accept, a refusal, a discard at data or bounce, or
// the deliver hook's discard or quarantine). A reject's
// or tempfail's edits are not applied: the client is told the command
// failed, so nothing it asked for may happen (a recipient added or
// rerouted on behalf of a refused RCPT would be delivered to all the
// same). A discard's and a quarantine's are: the client is told the
// message was taken, and a quarantined one keeps the header a stage added
// to say why.
func (s *Session) settle(e *entry, hook sdk.Hook, te *TraceEntry, v sdk.Verdict, err error, lat time.Duration, rcpt *sdk.Recipient, msg *Message) (o Outcome, goOn bool) {
	if e.DryRun {
		s.settleDryRun(e, hook, te, v, err, lat)
		return Outcome{}, true
	}
	te.Latency, te.LatencyMs = lat, ms(lat)
	if err != nil {
		e.stats.record(lat, "error", true)
		if s.p.observe != nil {
			s.p.observe(e.Name, hook, "error", lat, true)
		}
		te.Action, te.Error, te.OnError = "error", err.Error(), string(e.OnError)
		o, goOn := errorOutcome(e, err)
		if pe := (*PermanentError)(nil); errors.As(err, &pe) {
			// No retry can mend it: a 5xx, not on_error's 451. Nor does
			// on_error continue go on without the stage: the sender
			// chose the message's size, and a stage skipped because of
			// it would let a message past a filter by growing it.
			o, goOn = Outcome{Action: sdk.ActionReject, Reply: pe.Reply.With(fmt.Sprintf("stage %s: %v", e.Name, err))}, false
		}
		if o.Reply != nil {
			te.Reply = o.Reply.String()
		}
		s.p.log.Warn("stage failed", "stage", e.Name, "hook", string(hook), "err", err, "on_error", string(e.OnError), "session", s.txn.Session.ID)
		return o, goOn
	}
	e.stats.record(lat, v.Action.String(), false)
	if s.p.observe != nil {
		s.p.observe(e.Name, hook, v.Action.String(), lat, false)
	}
	te.Action, te.Reason = v.Action.String(), v.Reason
	if v.Action == sdk.ActionReject || v.Action == sdk.ActionTempfail {
		te.Edits = s.notApplied(e.Name, hook, v.Edits)
	} else {
		te.Edits = s.applyEdits(e.Name, hook, v.Edits, rcpt, msg)
	}
	for _, ar := range v.AuthResults {
		ar.Stage = e.Name
		s.txn.AuthResults = append(s.txn.AuthResults, ar)
	}
	switch v.Action {
	case sdk.ActionContinue:
		return Outcome{}, true
	case sdk.ActionAccept:
		return Outcome{Action: sdk.ActionAccept}, false
	case sdk.ActionReject, sdk.ActionTempfail:
		r := verdictReply(v)
		// The reason (never sent to the client) names the stage for the
		// listener's log reply=, so that a refusal at rcpt says whose it
		// is. Not at deliver, whose reply is stored with the recipient.
		switch {
		case hook == sdk.HookDeliver || hook == sdk.HookBounce:
		case r.Reason == "":
			r.Reason = "stage " + e.Name
		default:
			r.Reason = "stage " + e.Name + ": " + r.Reason
		}
		te.Reply = r.String()
		if why := v.ReplyProblem(); why != "" {
			s.p.log.Warn("stage reply corrected", "stage", e.Name, "hook", string(hook), "asked", fmt.Sprintf("%d %s", v.Reply.Code, v.Reply.Enhanced),
				"sent", fmt.Sprintf("%d %d.%d.%d", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2]), "why", why, "session", s.txn.Session.ID)
		}
		return Outcome{Action: v.Action, Reply: r}, false
	case sdk.ActionDiscard, sdk.ActionQuarantine:
		d := disposition{action: v.Action, stage: e.Name, reason: v.Reason}
		if hook == sdk.HookDeliver {
			// The last verdict: the recipient's fate.
			s.disp = d
			return Outcome{Action: v.Action}, false
		}
		s.decide(hook, d)
		if v.Action == sdk.ActionDiscard && (hook == sdk.HookData || hook == sdk.HookBounce) {
			// The last verdict: a discarded message has nothing left to
			// ask about.
			return Outcome{Action: v.Action}, false
		}
		// A decision before data, or a quarantine at data or bounce,
		// marks the message: the later stages are asked as usual (a dkim
		// stage signs a quarantined one, for its release), and a later
		// reject, tempfail or discard wins, as over Postfix's HOLD.
		return Outcome{}, true
	default:
		te.Action = "error"
		te.Error = "unknown action " + v.Action.String()
		return Outcome{}, true
	}
}

func (s *Session) addTrace(hook sdk.Hook, te TraceEntry) {
	n := len(s.p.entries)
	if hook == sdk.HookConnect || hook == sdk.HookHelo {
		if s.sessionTrace == nil {
			s.sessionTrace = make([]TraceEntry, 0, 2*n) // connect, helo
		}
		s.sessionTrace = append(s.sessionTrace, te)
		return
	}
	if s.txTrace == nil {
		s.txTrace = make([]TraceEntry, 0, 3*n) // mail, rcpt, data
	}
	s.txTrace = append(s.txTrace, te)
}

// call runs one stage with its timeout, at the data hook its data
// timeout (the content, where a scanner works, may take longer than a
// command, as Postfix's milter_content_timeout). The timeout's context
// starts a timer only if the stage waits on it: a plugin's direct channel
// enforces the deadline with its socket's instead.
func (s *Session) call(ctx context.Context, e *entry, c Conn, hook sdk.Hook, rcpt *sdk.Recipient, msg *Message) (sdk.Verdict, error) {
	timeout := e.Timeout
	if hook == sdk.HookData {
		timeout = e.DataTimeout
	}
	ctx, cancel := sdk.WithCallTimeout(ctx, timeout)
	defer cancel()
	txn := s.snapshot()
	if hook == sdk.HookAuth {
		ac, ok := c.(AuthConn)
		if !ok || s.auth == nil {
			return sdk.Continue(), nil
		}
		return ac.Auth(ctx, txn, s.auth)
	}
	if hook == sdk.HookData || hook == sdk.HookBounce {
		m := &sdk.Message{Headers: msg.Headers(), BodySize: int64(len(msg.Body()))}
		if c.NeedsBody() {
			m.Body = msg.Body()
		}
		v, err := c.Data(ctx, hook, txn, m)
		if errors.Is(err, sdk.ErrFrameTooLarge) {
			// The body travels in chunks; the header section and the
			// envelope in one frame, which has a size limit that no
			// retry changes.
			err = HeaderTooBig(fmt.Errorf("message header section and envelope: %w", err))
		}
		if errors.Is(err, sdk.ErrBodyTooLarge) {
			// The stage made the message larger than the plugin
			// protocol lets it; as Postfix's cleanup refuses a milter's
			// body over message_size_limit ("552 5.3.4 Message file too
			// big"), the message is refused, whatever on_error says: a
			// 451 would only have the client send it again to the same
			// end.
			err = &PermanentError{Reply: &reply.TooBig, Err: err}
		}
		return v, err
	}
	return c.Hook(ctx, hook, txn, rcpt)
}

// snapshot copies the transaction so a stage cannot alias our state.
func (s *Session) snapshot() *sdk.Txn {
	t := s.snapshotValue()
	return &t
}

// snapshotValue is snapshot's copy as a value.
func (s *Session) snapshotValue() sdk.Txn {
	t := s.txn
	t.Envelope.Rcpts = append([]sdk.Recipient(nil), s.txn.Envelope.Rcpts...)
	t.AuthResults = append([]sdk.AuthResult(nil), s.txn.AuthResults...)
	return t
}

// applyEdits applies a verdict's edits: envelope edits at any hook where
// they make sense, header and body edits at the data hook. An edit that
// would corrupt the message or the envelope is refused, and the rest go on.
func (s *Session) applyEdits(stage string, hook sdk.Hook, edits []sdk.Edit, rcpt *sdk.Recipient, msg *Message) []string {
	var done []string
	if hook == sdk.HookDeliver {
		return s.deliverEdits(stage, edits, rcpt) // a route only (deliveredit.go)
	}
	// Before MAIL there is no envelope to edit: MAIL starts it afresh. A
	// report's envelope is Sluice's own: from the null sender (RFC 5321
	// §4.5.5), or plugin mail's sender, to the sender of the message it
	// reports on (plugin mail's recipients), which a stage may only route
	// or replace (bounceedit.go).
	noEnvelope := hook == sdk.HookConnect || hook == sdk.HookHelo || hook == sdk.HookBounce
	var notOneForOne error
	if hook == sdk.HookBounce {
		notOneForOne = s.reportRcptsError(edits)
	}
	for _, ed := range edits {
		if n, ok := ed.(sdk.SetNote); ok {
			done = append(done, s.applyNote(stage, hook, n))
			continue
		}
		var err error
		switch {
		case isEnvelopeEdit(ed) && hook == sdk.HookBounce:
			err = bounceEditError(ed, notOneForOne)
		case isEnvelopeEdit(ed):
			if !noEnvelope {
				err = envelopeEditError(ed)
			}
		case msg != nil:
			err = fieldEditError(ed)
		}
		if err != nil {
			// Refused, not ignored: applied, it would corrupt the message
			// or the envelope, or inject into them.
			s.p.log.Warn("stage edit refused", "stage", stage, "hook", string(hook), "edit", fmt.Sprintf("%q", sdk.DescribeEdit(ed)), "err", err, "session", s.txn.Session.ID)
			done = append(done, sdk.DescribeEdit(ed)+" (refused: "+err.Error()+")")
			continue
		}
		ok := true
		note := ""
		switch ed := ed.(type) {
		case sdk.SetSender, sdk.AddRecipient, sdk.RemoveRecipient:
			if noEnvelope && (hook != sdk.HookBounce || !isRcptEdit(ed)) {
				ok = false
				break
			}
			if a, isAdd := ed.(sdk.AddRecipient); isAdd && hook == sdk.HookBounce {
				ed, note = reportRecipient(a)
			}
			if !s.applyEnvelopeEdit(hook, ed) {
				// Nothing was taken away (a milter's SMFIR_DELRCPT of an
				// address not in the envelope): a no-op, not an edit.
				done = append(done, sdk.DescribeEdit(ed)+" (matched no recipient)")
				continue
			}
		case sdk.SetRoute:
			// A report's recipient may be routed (to the mailbox server
			// of a local sender, say): where it goes, not who gets it.
			if noEnvelope && hook != sdk.HookBounce {
				ok = false
				break
			}
			if rcpt != nil && (ed.Rcpt == "" || strings.EqualFold(ed.Rcpt, rcpt.Addr)) {
				rcpt.Route = ed.Route
				ed.Rcpt = rcpt.Addr
				s.noteRouteBy(hook, rcpt.Addr, stage)
				done = append(done, sdk.DescribeEdit(ed))
				continue
			}
			ok = s.setRoute(hook, stage, ed)
		default:
			ok = msg != nil && msg.applyHeaderOrBody(ed)
		}
		d := sdk.DescribeEdit(ed) + note
		if !ok {
			d += " (ignored at " + string(hook) + ")"
		}
		done = append(done, d)
	}
	return done
}

// notApplied describes the edits of a verdict that refused, for the
// trace. Its notes are applied all the same (as Haraka keeps notes
// whatever a plugin answers): they say what the stage found, for the
// stages of later hooks, not what the client asked for.
func (s *Session) notApplied(stage string, hook sdk.Hook, edits []sdk.Edit) []string {
	var out []string
	for _, ed := range edits {
		if n, ok := ed.(sdk.SetNote); ok {
			out = append(out, s.applyNote(stage, hook, n))
			continue
		}
		out = append(out, sdk.DescribeEdit(ed)+" (not applied: the stage refused)")
	}
	return out
}
