package smtpd

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluice-mta/sluice/core/metrics"
)

// The error tarpit is Postfix's smtpd_soft_error_limit (10) and
// smtpd_error_sleep_time (1s): once a connection has made soft_errors
// errors, counted as max_errors counts them (and forgiven with them by a
// queued message), each further reply waits error_delay before it is
// written, an error's or not. A client guessing addresses at RCPT or
// passwords at AUTH then gets one answer per error_delay, and a
// pipelined burst of guesses is answered at that pace too, its valid
// guesses with the rest. Postfix (2.1 and later) does the same: its
// smtpd_chat_reply sleeps before any reply once the session's error
// count has reached the soft limit ("sleep-on-anything"); below the
// limit nothing waits (Postfix 2.0 and earlier delayed every 4xx and
// 5xx reply). The count is the one before the command the reply
// answers, as Postfix counts a command's error after its reply: the
// reply to the (soft_errors+1)th error waits, and so does any reply
// after soft_errors errors. A connection's greeting never waits (no
// error comes before it), and no reply waits twice: the 421 at
// max_errors, written in place of the error's reply, waits once, as
// Postfix's does; the 221 to QUIT waits once past the limit, as there.
//
// An error's reply waits where its command's first error is counted
// (countError), which covers the replies Sluice writes outside go-smtp
// (the 421 that ends a session); any other waits in go-smtp's ReplyCode
// hook (beforeReply), which sees every reply it writes.

// tarpit waits error_delay before a reply, when the connection had made
// soft_errors errors or more before the command it answers: errs made
// so far, the reply's own among them when it is an error's (isErr). The
// wait holds no lock, and ends early when the connection is closed, when
// Shutdown begins, after which no reply waits (a session finishing its
// transaction then is not held up), and when the client hangs up
// (watchHangup), under TLS too. The connection is then closed without
// the reply: a client may close only its sending side, after pipelining
// its guesses, and still read; answered at once, the commands it had
// sent would go round the tarpit. So it is after Shutdown's 421 to an
// idle session, in the clear; under TLS that session gets the held
// reply. It reports whether it waited to the end.
func (c *conn) tarpit(errs int, isErr bool) bool {
	before := errs
	if isErr {
		before--
	}
	lim := c.srv.lim()
	d := lim.ErrorDelay.Duration
	if lim.SoftErrors < 0 || before < lim.SoftErrors || d <= 0 {
		return false
	}
	ctx := c.waitContext()
	if ctx == nil || ctx.Err() != nil {
		return false
	}
	if c.firstWait() {
		c.srv.log.Info("error tarpit", append(append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...),
			"errors", errs, "error_delay", d.String())...)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var gone atomic.Bool
	hungUp := func() {
		// Shutdown's end of reading (sayGoodbye) looks to the watch like
		// the client's FIN; Shutdown has ended the wait itself then.
		if closing, _ := c.shutdownBegun(); !closing {
			gone.Store(true)
			cancel()
		}
	}
	stop := watchHangup(c.Conn, c.underTLS(), hungUp, lim.CommandTimeout.Duration)
	c.srv.sleep(ctx, d)
	stop()
	_, noticeOut := c.shutdownBegun()
	if gone.Load() || noticeOut {
		if gone.Load() {
			c.closeAs(metrics.CloseHangup)
			c.srv.log.Debug("hung up in the error tarpit", append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)...)
		}
		// go-smtp's write of the reply fails, and it ends the session;
		// the commands it has read already are not waited for either.
		// After Shutdown's 421, which the client reads as the answer to
		// the command whose reply was held, that reply must not follow
		// (RFC 5321 §4.2: one reply a command); under TLS no 421 is
		// written, and the held reply is the session's last.
		c.endWaits()
		_ = c.Conn.Close()
		return false
	}
	return true
}

// shutdownBegun reports whether Shutdown has begun for the connection,
// and whether its 421 went out in the clear (sayGoodbye).
func (c *conn) shutdownBegun() (closing, noticeOut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing, c.noticeOut
}

// beforeReply is the tarpit's part of go-smtp's ReplyCode hook: a reply
// to a command that made no error waits here. One whose error was
// counted (countError) has had its wait there.
func (c *conn) beforeReply() {
	c.mu.Lock()
	errs, counted := c.nErrs, c.errCounted
	c.errCounted = false
	c.mu.Unlock()
	if counted || !c.tarpit(errs, false) {
		return
	}
	// go-smtp set the write deadline before it asked: the wait must not
	// eat into the reply's command_timeout.
	if d := c.srv.lim().CommandTimeout.Duration; d > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
	}
}

// underTLS reports whether TLS runs over the connection, which the
// watch for a hang-up must know (watchHangup).
func (c *conn) underTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

// firstWait reports whether this is the connection's first wait since
// its count of errors began (or was forgiven), which the log notes.
func (c *conn) firstWait() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := !c.tarpitted
	c.tarpitted = true
	return first
}

// waitContext is the context of the tarpit's waits: made at the first
// one, as most connections never wait, and derived from the Server's, so
// that Shutdown ends it. nil once endWaits has run.
func (c *conn) waitContext() context.Context {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	if c.waitsOver {
		return nil
	}
	if c.waitCtx == nil {
		c.waitCtx, c.cancelWaits = context.WithCancel(c.srv.ctx)
	}
	return c.waitCtx
}

// endWaits ends a tarpit wait in progress, and makes any later one
// return at once.
func (c *conn) endWaits() {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	c.waitsOver = true
	if c.cancelWaits != nil {
		c.cancelWaits()
	}
}
