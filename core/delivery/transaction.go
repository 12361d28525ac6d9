package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// txResult is what one transaction did.
type txResult struct {
	rcpts map[string]outcome // by recipient address
	keep  bool               // the session can carry another transaction
	// stale: a pooled session broke (or got 421) at MAIL, most likely
	// closed while idle, or at a RCPT (a server's per-session error limit).
	// Nothing was delivered: redo the transaction on a new session.
	stale bool
	// siteFail is a temporary failure that left every recipient pending
	// without the message taken: a 4xx (421 included) or a broken
	// connection at MAIL, a 421 or broken connection among the RCPTs, a
	// 4xx to DATA, a connection lost while sending the body, a 4xx to the
	// final dot. The server took nothing and decided nothing. Like a failed
	// greeting, it sends delivery on to the next MX (RFC 5321 §5.1), as
	// Postfix does with a soft error from a server that is not the last to
	// try. Recipients deferred one by one at RCPT (greylisting, a full
	// mailbox) are not: the server works, and decided for them.
	siteFail error
	// tooMany are the recipients the server refused at RCPT for this
	// transaction's recipient count (RFC 5321 §4.5.3.1.10): they go in a
	// new transaction at once, while the others were decided.
	tooMany []*envelope.Recipient
}

// transact runs one mail transaction (RFC 5321 §3.3) for rcpts on s:
// MAIL, one RCPT each, DATA when any was accepted. A transaction that ends
// without the reply to the final dot is closed with RSET so that the
// session can be pooled. On an LMTP session the end of DATA brings one
// reply per accepted recipient (RFC 2033 §4.2).
func (a *Agent) transact(ctx context.Context, s *session, m *envelope.Message, body []byte, rcpts []*envelope.Recipient) txResult {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	defer stop()
	s.used++
	c := s.client
	res := txResult{rcpts: make(map[string]outcome, len(rcpts))}
	set := func(o outcome, list []*envelope.Recipient) {
		for _, r := range list {
			res.rcpts[r.Addr] = o
		}
	}
	fail := func(err error) outcome {
		if _, ok := isReply(err); !ok && ctx.Err() != nil {
			return temporary(interrupted.With(err.Error()).Error())
		}
		return outcomeOf(err)
	}
	// reusable: after a reply other than 421 (RFC 5321 §3.8: the server is
	// closing), RSET brings the session back to a clean state.
	reusable := func(err error) bool {
		code, ok := isReply(err)
		return ok && code != 421 && c.Reset() == nil
	}

	// RFC 6152 §3: no 8-bit data to a server without 8BITMIME.
	if ok, _ := c.Extension("8BITMIME"); !ok {
		body = downgrade8bit(body)
	}
	// RFC 1870 §6.1: do not send what the server announced it refuses.
	if limit, ok := c.MaxMessageSize(); ok && limit > 0 && len(body) > limit {
		set(permanent(reply.TooBig.With(fmt.Sprintf("%s accepts at most %d bytes", s.host, limit))), rcpts)
		res.keep = true
		return res
	}
	opts := &smtp.MailOptions{Size: int64(len(body)), Return: dsnReturn(m.DSNRet), EnvelopeID: envID(m.DSNEnvID)}
	// RFC 8689 §4.2.1: the parameter goes on; the hop was checked for it
	// (requiretls.go). LMTP is final delivery.
	opts.RequireTLS = m.RequireTLS && !s.lmtp
	from, addrs := m.From, make([]string, len(rcpts))
	for i, r := range rcpts {
		addrs[i] = r.Addr
	}
	// A stage may have put a UTF-8 address into a message received
	// without SMTPUTF8: its transaction needs the extension all the same
	// (RFC 6531 §3.4). Raw 8-bit header octets in such a message are
	// legacy mail, not RFC 6532 header fields, and do not need it.
	if m.SMTPUTF8 || !ascii(from) || slices.ContainsFunc(addrs, func(s string) bool { return !ascii(s) }) {
		if ok, _ := c.Extension("SMTPUTF8"); ok {
			opts.UTF8 = true
		} else if f, as, ok := asciiEnvelope(m.From, rcpts); ok && (!m.SMTPUTF8 || headerASCII(body)) {
			// Unicode domains go as their A-labels (RFC 6531 §3.2).
			from, addrs = f, as
		} else {
			// RFC 6531 §3.2, RFC 6532: a UTF-8 local part or header
			// section must not go to a server without SMTPUTF8;
			// Postfix returns it too ("SMTPUTF8 is required").
			set(permanent(&noSMTPUTF8), rcpts)
			res.keep = true
			return res
		}
	}
	w, rep := sendEnvelope(c, from, opts, rcpts, addrs)
	if err := rep.Mail; err != nil {
		if code, ok := isReply(err); (!ok || code == 421) && s.used > 1 && ctx.Err() == nil {
			res.stale = true
			return res
		}
		set(fail(err), rcpts)
		res.keep = reusable(err)
		res.noteSiteFail(ctx, err)
		return res
	}

	var accepted []*envelope.Recipient
	for i, r := range rcpts {
		err := rep.Rcpt[i]
		if err == nil {
			accepted = append(accepted, r)
			continue
		}
		res.rcpts[r.Addr] = rcptFail(err, fail)
		if tooManyRecipients(err) {
			res.tooMany = append(res.tooMany, r)
		}
		if code, ok := isReply(err); !ok || code == 421 {
			if s.used > 1 && ctx.Err() == nil {
				// A reused session closed: one idle too long, or one at
				// the server's error limit (chasquid's 421 "Too many
				// errors" replaces the reply to the RCPT that reaches
				// it). The recipient was not judged: redo it all anew.
				res.stale = true
				return res
			}
			// The connection is gone: nothing gets delivered in it.
			set(fail(err), accepted)
			set(fail(err), rcpts[i+1:])
			res.noteSiteFail(ctx, err)
			return res
		}
	}
	if len(accepted) == 0 {
		res.keep = c.Reset() == nil // RFC 5321 §4.1.1.5
		return res
	}
	if err := rep.Data; err != nil {
		set(fail(err), accepted)
		res.keep = reusable(err)
		res.noteSiteFail(ctx, err)
		return res
	}
	// go-smtp bounds the DATA reply but not the writing of the body.
	if err := writeBody(s.conn, w, body, a.cfg.CommandTimeout.Duration); err != nil {
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Named as Postfix names them, not as bare socket errors.
			err = fmt.Errorf("conversation with %s timed out while sending the message body: %w", s.host, err)
		default:
			err = fmt.Errorf("lost connection with %s while sending the message body: %w", s.host, err)
		}
		set(fail(err), accepted)
		res.noteSiteFail(ctx, err)
		return res
	}
	if s.lmtp {
		sent := make(map[string]string, len(rcpts))
		for i, r := range rcpts {
			sent[r.Addr] = addrs[i]
		}
		a.closeLMTP(s, w, accepted, sent, &res, fail)
		return res
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		code, replied := isReply(err)
		if replied && (code < 400 || code >= 600) {
			// Neither taken nor refused: RFC 5321 §4.2.1 has no 1xx,
			// 3xx or 6xx reply to the final dot, and whether the server
			// kept the message is as unknown as after a reply that
			// never came. Deferred as that one is, to no other server,
			// and the session, in a state no one knows, is not reused.
			// It was taken for a 4xx, and the next MX got another copy.
			o := theirs(temporary(describe(err) + " (no 2xx, 4xx or 5xx reply to the end of data: the message may be delivered more than once)"))
			o.mayBeTaken = true
			set(o, accepted)
			return res
		}
		if !replied && ctx.Err() == nil {
			// The server may have taken the message before the line went
			// (RFC 1047): say so, as Postfix does, since the retry may
			// deliver it twice.
			err = noReplyAfterDot(s.host, err)
		}
		// RFC 5321 §4.1.1.4: the reply to the final dot covers every
		// recipient accepted at RCPT.
		o := fail(err)
		if !replied && ctx.Err() == nil {
			o.mayBeTaken = true
		}
		set(o, accepted)
		res.keep = reusable(err)
		if replied {
			// A 4xx refused the message outright; a lost connection
			// may have delivered it, so it is never sent elsewhere.
			res.noteSiteFail(ctx, err)
		}
		return res
	}
	// RFC 3461 §5.2.2: past a hop without DSN, a SUCCESS request is
	// answered here with a "relayed" report.
	dsn, _ := c.Extension("DSN")
	set(delivered(acceptedText(resp.Code, resp.StatusText)).viaHop(dsn), accepted)
	// RFC 5321 §4.1.1.4: the reply to the final dot completes the
	// transaction and clears the server's state, so the session is pooled
	// without an RSET round trip. A server that drops it meanwhile shows at
	// the next MAIL, which is then retried on a new session (stale).
	res.keep = true
	return res
}

// bodyChunk is how much of the body writeBody sends under one deadline.
const bodyChunk = 64 << 10

// writeBody writes body to w, the data of the transaction on conn, giving
// each bodyChunk timeout to be sent: RFC 5321 §4.5.3.2.5 times each send
// of a data block (3 minutes), as Postfix's smtp_data_xfer_timeout does,
// so that a server that stops reading is given up while a large message
// over a slow link that keeps moving is not cut at a fixed total. The
// last deadline is renewed for the final dot, which go-smtp writes before
// it sets its own deadline for the reply.
func writeBody(conn net.Conn, w io.Writer, body []byte, timeout time.Duration) error {
	for len(body) > 0 {
		n := min(len(body), bodyChunk)
		_ = conn.SetDeadline(time.Now().Add(timeout))
		if _, err := w.Write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	return nil
}

// noteSiteFail records err as the transaction's siteFail when it is
// temporary (a 4xx or a broken connection, not shutdown's) and no
// recipient got a final answer: a 5xx to one RCPT decided that one, and
// the transaction is then no longer worth repeating elsewhere.
func (res *txResult) noteSiteFail(ctx context.Context, err error) {
	if code, ok := isReply(err); (ok && code >= 500) || ctx.Err() != nil {
		return
	}
	for _, o := range res.rcpts {
		if o.status != envelope.RcptPending {
			return
		}
	}
	res.siteFail = err
}

// sendEnvelope sends MAIL, a RCPT per recipient and DATA. To a server that
// offers PIPELINING they go as one group (RFC 2920 §3.1), read back in
// order; otherwise one at a time, stopping as transact would: after a
// failed MAIL, after a RCPT that lost the connection (whose error the
// recipients after it get), and before DATA when no recipient was taken.
// addrs are the recipients' addresses as sent (see asciiEnvelope).
func sendEnvelope(c *smtp.Client, from string, opts *smtp.MailOptions, rcpts []*envelope.Recipient, addrs []string) (*smtp.DataCommand, smtp.EnvelopeReplies) {
	if ok, _ := c.Extension("PIPELINING"); ok {
		ropts := make([]*smtp.RcptOptions, len(rcpts))
		for i, r := range rcpts {
			ropts[i] = rcptOptions(r)
		}
		return c.SendEnvelope(from, opts, addrs, ropts)
	}
	rep := smtp.EnvelopeReplies{Rcpt: make([]error, len(rcpts))}
	if rep.Mail = c.Mail(from, opts); rep.Mail != nil {
		return nil, rep
	}
	accepted := 0
	for i, r := range rcpts {
		err := c.Rcpt(addrs[i], rcptOptions(r))
		rep.Rcpt[i] = err
		if err == nil {
			accepted++
			continue
		}
		if code, ok := isReply(err); !ok || code == 421 {
			for j := i + 1; j < len(rcpts); j++ {
				rep.Rcpt[j] = err
			}
			return nil, rep
		}
	}
	if accepted == 0 {
		return nil, rep
	}
	w, err := c.Data()
	rep.Data = err
	return w, rep
}

// rcptFail is a RCPT's failure. A 552 to RCPT is taken as 452 (RFC 5321
// §4.5.3.1.10: some servers answer "too many recipients" with 552, which
// clients SHOULD treat as temporary; Postfix does likewise), so that the
// recipients a server would take in the next transaction are retried,
// not bounced.
func rcptFail(err error, fail func(error) outcome) outcome {
	if code, ok := isReply(err); ok && code == 552 {
		return theirs(temporary(outcomeOf(err).reply + " (552 to RCPT taken as temporary, RFC 5321 4.5.3.1.10)"))
	}
	return fail(err)
}

// tooManyRecipients reports whether a RCPT reply refuses the recipient
// for the transaction's size rather than for itself: 452 (RFC 5321
// §4.5.3.1.10) or 552 (which some servers send instead), with the
// enhanced code X.5.3 (RFC 3463: too many recipients) or none.
func tooManyRecipients(err error) bool {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || (se.Code != 452 && se.Code != 552) {
		return false
	}
	ec := se.EnhancedCode
	return ec == smtp.EnhancedCodeNotSet || ec == smtp.NoEnhancedCode || (ec[1] == 5 && ec[2] == 3)
}
