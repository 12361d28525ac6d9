package smtpd

import (
	"context"
	"sync/atomic"
)

// The error tarpit is Postfix's smtpd_soft_error_limit (10) and
// smtpd_error_sleep_time (1s): once a connection has made more than
// soft_errors errors, counted as max_errors counts them (and forgiven
// with them by a queued message), each further error reply waits
// error_delay before it is written. A client guessing addresses at RCPT
// or passwords at AUTH then gets one answer per error_delay, and a
// pipelined burst of guesses is answered at that pace too.
//
// Postfix (2.1 and later) sleeps before every reply once past the limit;
// Sluice holds back only the error replies, the guesses it is there to
// slow: a relay whose list has a few dead addresses is not slowed on its
// good ones. Below the limit nothing waits (Postfix 2.0 and earlier
// delayed every 4xx and 5xx reply).

// tarpit waits error_delay before the reply to the connection's nth
// error, when n is past soft_errors. The wait holds no lock, and ends
// early when the connection is closed, when Shutdown begins, after which
// no error waits (a session finishing its transaction then is not held
// up), and when the client hangs up (watchHangup). The connection is
// then closed without the reply: a client may close only its sending
// side, after pipelining its guesses, and still read; answered at once,
// the commands it had sent would go round the tarpit.
func (c *conn) tarpit(n int) {
	lim := c.srv.lim()
	d := lim.ErrorDelay.Duration
	if lim.SoftErrors < 0 || n <= lim.SoftErrors || d <= 0 || c.ctx == nil || c.ctx.Err() != nil {
		return
	}
	if n == lim.SoftErrors+1 {
		c.srv.log.Info("error tarpit", append(append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...),
			"errors", n, "error_delay", d.String())...)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var gone atomic.Bool
	stop := watchHangup(c.Conn, func() { gone.Store(true); cancel() }, lim.CommandTimeout.Duration)
	c.srv.sleep(ctx, d)
	stop()
	if gone.Load() {
		c.srv.log.Debug("hung up in the error tarpit", append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)...)
		// go-smtp's write of the reply fails, and it ends the session;
		// the commands it has read already are not waited for either.
		c.endWaits()
		_ = c.Conn.Close()
	}
}

// endWaits ends a tarpit wait in progress, and makes any later one
// return at once.
func (c *conn) endWaits() {
	if c.cancel != nil {
		c.cancel()
	}
}
