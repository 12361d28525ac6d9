package milter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// conn is one SMTP session's milter connection. The pipeline uses it from
// the session's goroutine only.
type conn struct {
	stage *Stage
	ms    *milter.ClientSession
	wire  *wireConn
	sess  *sdk.Session

	connect     *sdk.Verdict // the answer to SMFIC_CONNECT, until Hook(connect) takes it
	broken      error        // set when the connection failed; every later call returns it
	sessionDone bool         // the milter accepted or refused the session: it wants nothing more
	refused     *sdk.Verdict // the milter refused the session (at connect or HELO): every later step's answer
	heloSent    bool
	txnOpen     bool // MAIL (or a later step) of this transaction was sent
	txnDone     bool // the milter concluded this transaction (accept, reject, discard, end of message)
	skipRcpt    bool // the milter answered a recipient with SMFIR_SKIP: no more of this transaction's
	v2          bool // protocol version 2 was negotiated: no SMFIC_DATA (added in version 4)

	// per is the timeout of each read and write in a call, limit the
	// time by which the whole hook must be done (see budget).
	per   time.Duration
	limit time.Time
}

// maxProgress bounds how long a milter that keeps sending SMFIR_PROGRESS
// may hold one hook: this many times the stage's timeout.
const maxProgress = 10

// errClosed is returned after Close.
var errClosed = errors.New("milter connection closed")

// opt reports whether the milter negotiated protocol option o away.
func (c *conn) opt(o milter.OptProtocol) bool { return c.ms.ProtocolOption(o) }

// Wants reports the steps the milter takes: connect, helo, mail, rcpt and
// data, minus those it opted out of at negotiation (SMFIP_NOCONNECT,
// SMFIP_NOHELO, SMFIP_NOMAIL, SMFIP_NORCPT) and those after it concluded
// the session or the transaction. A broken connection wants every step so
// that each reports its error and the stage's on_error applies; so does a
// session the milter refused, so that each step is refused in turn.
func (c *conn) Wants(h sdk.Hook) bool {
	switch h {
	case sdk.HookConnect:
		return c.connect != nil
	case sdk.HookHelo, sdk.HookMail, sdk.HookRcpt, sdk.HookData:
	default:
		return false
	}
	if c.broken != nil || c.refused != nil {
		return true
	}
	if c.sessionDone {
		return false
	}
	switch h {
	case sdk.HookHelo:
		return !c.opt(milter.OptNoHelo)
	case sdk.HookMail:
		return !c.opt(milter.OptNoMailFrom)
	case sdk.HookRcpt:
		return !c.txnDone && !c.skipRcpt && !c.opt(milter.OptNoRcptTo)
	}
	return !c.txnDone
}

// NeedsBody is false when the milter negotiated SMFIP_NOBODY.
func (c *conn) NeedsBody() bool { return !c.opt(milter.OptNoBody) }

// Hook runs one SMTP step through the milter. A step an earlier stage's
// accept kept from the milter is sent first (HELO before MAIL, MAIL and
// the recipients before RCPT), so the milter always sees a well-formed
// sequence (milter protocol: SMFIC_HELO, SMFIC_MAIL, SMFIC_RCPT order).
func (c *conn) Hook(ctx context.Context, h sdk.Hook, t *sdk.Txn, rcpt *sdk.Recipient) (sdk.Verdict, error) {
	if c.broken != nil {
		return sdk.Verdict{}, c.broken
	}
	if c.refused != nil && h != sdk.HookConnect {
		return *c.refused, nil
	}
	c.budget(ctx)
	switch h {
	case sdk.HookConnect:
		if c.connect == nil {
			return sdk.Continue(), nil
		}
		v := *c.connect
		c.connect = nil
		return v, nil
	case sdk.HookHelo:
		return c.helo(ctx, t)
	case sdk.HookMail:
		if c.txnOpen && !c.txnDone {
			// A new MAIL without RSET: end the old transaction first.
			if err := c.call(ctx, "abort", func() error { return c.ms.Abort() }); err != nil {
				return sdk.Verdict{}, err
			}
		}
		c.txnOpen, c.txnDone, c.skipRcpt = false, false, false
		return c.mail(ctx, t)
	case sdk.HookRcpt:
		if v, err := c.mail(ctx, t); err != nil || c.over() || c.skipRcpt {
			return v, err
		}
		return c.rcpt(ctx, t, *rcpt)
	}
	return sdk.Continue(), nil
}

// helo sends SMFIC_HELO with the HELO macros.
func (c *conn) helo(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	c.heloSent = true
	return c.step(ctx, sdk.HookHelo, "helo", func() (*milter.Action, error) {
		if err := c.macros(milter.CodeHelo, heloMacros(&t.Session), t, nil); err != nil {
			return nil, err
		}
		return c.ms.Helo(t.Session.Helo)
	})
}

// mail sends SMFIC_MAIL with its ESMTP arguments and macros, once per
// transaction; on a transaction the milter has not seen yet it also sends
// the recipients already accepted.
func (c *conn) mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	if c.txnOpen {
		return sdk.Continue(), nil
	}
	if !c.heloSent && t.Session.Helo != "" {
		if v, err := c.helo(ctx, t); err != nil || c.over() {
			return v, err
		}
	}
	c.txnOpen = true
	v, err := c.step(ctx, sdk.HookMail, "mail", func() (*milter.Action, error) {
		if err := c.macros(milter.CodeMail, mailMacros(t), t, nil); err != nil {
			return nil, err
		}
		return c.ms.Mail(t.Envelope.MailFrom, esmtpArgs(t.Envelope.MailParams))
	})
	for _, r := range t.Envelope.Rcpts {
		if err != nil || c.over() || c.skipRcpt {
			break
		}
		v, err = c.rcpt(ctx, t, r)
	}
	return v, err
}

// over reports whether the milter is done with the transaction (or the
// session): it gets no more steps.
func (c *conn) over() bool { return c.sessionDone || c.txnDone }

// rcpt sends SMFIC_RCPT with its ESMTP arguments and macros. An
// SMFIR_SKIP answer (continue) spares the milter the transaction's other
// recipients, as Postfix skips further events of the kind (milter8.c,
// skip_event_type).
func (c *conn) rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	v, err := c.step(ctx, sdk.HookRcpt, "rcpt", func() (*milter.Action, error) {
		if err := c.macros(milter.CodeRcpt, rcptMacros(t, r), t, &r); err != nil {
			return nil, err
		}
		return c.ms.Rcpt(r.Addr, esmtpArgs(r.Params))
	})
	if err == nil && c.wire.takeSkip() {
		c.skipRcpt = true
	}
	return v, err
}

// step runs one request/answer exchange and maps the answer, updating
// what the milter still wants.
func (c *conn) step(ctx context.Context, h sdk.Hook, name string, f func() (*milter.Action, error)) (sdk.Verdict, error) {
	var act *milter.Action
	if err := c.call(ctx, name, func() (err error) { act, err = f(); return err }); err != nil {
		return sdk.Verdict{}, err
	}
	v, err := c.verdict(h, act)
	if err != nil {
		return sdk.Verdict{}, c.fail(ctx, name, err)
	}
	return v, nil
}

// verdict maps a milter answer and records what it concludes (milter
// protocol, "Responses"):
//
//   - SMFIR_ACCEPT means this milter is done: with the session at connect
//     or HELO, else with the message. It is not a verdict on the message
//     for the other filters: Sendmail (milter.c: "this filter is done
//     with message/connection") and Postfix (milter8.c,
//     MILTER8_STAT_ACCEPT_MSG) go on with the next milter. So the
//     pipeline continues too; the stage asks for nothing more.
//   - reject, tempfail and reply code at connect or HELO refuse the
//     session: the milter gets no more steps, and every later step (a
//     HELO sent again, MAIL, RCPT, DATA) gets the same refusal, as
//     Postfix answers every command after such a reply with it
//     (milter8.c, MILTER8_STAT_REJECT_CON). Else a client would only
//     have to repeat HELO to be let past the milter. At MAIL, DATA or
//     end of message they end the transaction. At RCPT, reject and
//     tempfail refuse that recipient only, while discard applies to the
//     whole message.
//   - SMFIR_DISCARD at connect or HELO is not allowed: Postfix
//     (milter8.c, "DISCARD action is not allowed for connect or helo")
//     logs it and goes on as if the milter had said continue, and so do
//     we. There is no message to discard yet, and discarding every
//     message of the session would lose mail silently.
func (c *conn) verdict(h sdk.Hook, a *milter.Action) (sdk.Verdict, error) {
	v, err := actionVerdict(a)
	if err != nil {
		return v, err
	}
	if v.Action == sdk.ActionDiscard && (h == sdk.HookConnect || h == sdk.HookHelo) {
		c.stage.log.Warn("milter DISCARD is not allowed at connect or helo: ignored", "hook", string(h), "session", c.sess.ID)
		return sdk.Continue().Because("milter " + c.stage.opts.Name + ": discard at " + string(h) + " is not allowed (ignored)"), nil
	}
	if a.Code == milter.ActReplyCode {
		if got, want := replyClassMismatch(a.SMTPCode, a.SMTPText); got != "" {
			// Postfix (milter8.c) calls this a malformed reply, a
			// configuration error of the milter's.
			c.stage.log.Warn("milter reply's enhanced status code does not match its reply code: class corrected",
				"reply", fmt.Sprintf("%d %s", a.SMTPCode, got), "used", want, "session", c.sess.ID)
		}
	}
	done := v.Action != sdk.ActionContinue
	if v.Action == sdk.ActionAccept {
		what := "message"
		if h == sdk.HookConnect || h == sdk.HookHelo {
			what = "session"
		}
		v = sdk.Continue().Because("milter " + c.stage.opts.Name + ": accept (done with this " + what + ")")
	} else if done {
		v.Reason = "milter " + c.stage.opts.Name + ": " + v.Action.String()
	}
	if done {
		switch h {
		case sdk.HookConnect, sdk.HookHelo:
			c.sessionDone = true
			if v.Action == sdk.ActionReject || v.Action == sdk.ActionTempfail {
				r := v
				r.Reason = v.Reason + " (refused the session at " + string(h) + ")"
				c.refused = &r
			}
		case sdk.HookRcpt:
			if a.Code != milter.ActReject && a.Code != milter.ActTempFail && a.Code != milter.ActReplyCode {
				c.txnDone = true
			}
		default:
			c.txnDone = true
		}
	}
	return v, nil
}

// macros sends SMFIC_MACRO for the step with code, skipping empty values
// as Postfix does for undefined macros (an emptyMacro is sent, empty). kv
// are the macros sent by default; a milter that asked for a list of its
// own for the step (smfi_setsymlist, in its SMFIC_OPTNEG answer) gets
// those of its list that are known at this point (of the transaction t
// and recipient r, if any), as Postfix overrides its milter_*_macros with
// the milter's list.
func (c *conn) macros(code milter.Code, kv []string, t *sdk.Txn, r *sdk.Recipient) error {
	if list, ok := c.wire.symLists[symStage[code]]; ok {
		kv = pickMacros(list, knownMacros(&c.stage.opts, c.sess, t, r))
	}
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i+1] {
		case "":
		case emptyMacro:
			out = append(out, kv[i], "")
		default:
			out = append(out, kv[i], kv[i+1])
		}
	}
	if len(out) == 0 {
		return nil
	}
	return c.ms.Macros(code, out...)
}

// budget sets the timeouts of a hook's calls from ctx, whose deadline is
// the stage's timeout, at the data hook (headers, body, end of message)
// its data_timeout (set by the pipeline): each read and write of the
// milter socket gets that much, and the whole hook at most maxProgress
// times it. So a milter that answers SMFIR_PROGRESS in time goes on
// being waited for, as under Postfix, which reads each reply packet with
// its own timeout and loops on PROGRESS (milter8.c, milter8_event); one
// that sends nothing is given up after one timeout, as before.
func (c *conn) budget(ctx context.Context) {
	c.per = c.stage.opts.Timeout
	if dl, ok := ctx.Deadline(); ok {
		c.per = max(time.Until(dl), time.Millisecond)
	}
	c.limit = time.Now().Add(maxProgress * c.per)
}

// call runs f with each I/O's deadline set by budget, cut short when ctx
// is cancelled. ctx's own deadline is left to the socket's: the milter
// may keep the call going past it with SMFIR_PROGRESS (see budget). A
// failure breaks the connection: the protocol stream is out of step.
func (c *conn) call(ctx context.Context, step string, f func() error) error {
	if c.per <= 0 {
		c.budget(ctx)
	}
	c.wire.arm(c.per, c.limit)
	c.wire.takeSkip()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.wire.cut()
		}
		close(fired)
	})
	err := f()
	if !stop() && ctx.Err() != nil {
		<-fired // its cut must not hit the next call
	}
	c.wire.disarm()
	if err != nil {
		return c.fail(ctx, step, err)
	}
	return nil
}

// fail breaks the connection after an error at step.
func (c *conn) fail(ctx context.Context, step string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		err = fmt.Errorf("%w (%v)", context.Canceled, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The socket's deadline is the stage's timeout (see budget).
		err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	c.broken = fmt.Errorf("milter %s: %s: %w", c.stage.opts.Addr, step, err)
	_ = c.wire.Close()
	c.stage.broke()
	c.stage.log.Warn("milter connection failed", "step", step, "err", err, "session", c.sess.ID)
	return c.broken
}

// sendConnect sends SMFIC_CONNECT with the connect macros, from Open.
func (c *conn) sendConnect(ctx context.Context) error {
	if c.opt(milter.OptNoConnect) {
		return nil
	}
	c.budget(ctx)
	v, err := c.step(ctx, sdk.HookConnect, "connect", func() (*milter.Action, error) {
		if err := c.macros(milter.CodeConn, connectMacros(&c.stage.opts, c.sess), nil, nil); err != nil {
			return nil, err
		}
		host, family, port, addr := connectInfo(c.sess)
		return c.ms.Conn(host, family, port, addr)
	})
	if err != nil {
		return err
	}
	c.connect = &v
	return nil
}

// Reset ends the transaction; one the milter has not concluded is
// aborted (SMFIC_ABORT), which keeps the connection for the next MAIL.
func (c *conn) Reset(ctx context.Context) {
	if c.broken == nil && c.txnOpen && !c.txnDone {
		c.budget(ctx)
		_ = c.call(ctx, "abort", func() error { return c.ms.Abort() })
	}
	c.txnOpen, c.txnDone, c.skipRcpt = false, false, false
}

// Close says goodbye (SMFIC_QUIT) and closes the socket.
func (c *conn) Close() error {
	if c.broken != nil {
		return nil
	}
	d := c.stage.opts.Timeout
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	_ = c.wire.SetDeadline(time.Now().Add(d))
	_ = c.ms.Close()
	_ = c.wire.Close() // go-milter leaves it open when QUIT cannot be written
	c.broken = errClosed
	return nil
}

// esmtpArgs renders ESMTP parameters as milter arguments ("KEY=VALUE" or
// "KEY"), sorted so a milter sees them in a stable order.
func esmtpArgs(params map[string]string) []string {
	var out []string
	for k, v := range params {
		if v == "" {
			out = append(out, k)
		} else {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// parseArgs turns milter ESMTP arguments back into parameters. libmilter
// sends all of them as one space-separated string (smfi_chgfrom,
// smfi_addrcpt_par), go-milter's server as separate strings: both work.
func parseArgs(args []string) map[string]string {
	var out map[string]string
	for _, a := range args {
		for _, f := range strings.Fields(a) {
			if out == nil {
				out = map[string]string{}
			}
			k, v, _ := strings.Cut(f, "=")
			out[strings.ToUpper(k)] = v
		}
	}
	return out
}

var _ pipeline.Conn = (*conn)(nil)
