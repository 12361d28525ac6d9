package smtp

import (
	"errors"
	"time"
)

// Message data is read under a deadline (Sluice change, see
// Server.MinDataRate): with DataTimeout alone a client that sent a byte
// just within each DataTimeout held its session for as long as it liked.
// As Postfix 3.7's smtpd_min_data_rate computes it, a message starts
// with DataTimeout to spend waiting for its data; each read uses up the
// time it waited and earns the bytes it brought over MinDataRate, the
// balance never above DataTimeout. Only the waits of reads count: the
// time the session spends on the data, and the wait for a BDAT command
// line (ReadTimeout), do not.

// ErrMinDataRate is in the error chain of a read of message data whose
// deadline was the message's, not DataTimeout: the client sent slower
// than MinDataRate.
var ErrMinDataRate = errors.New("message data slower than the minimum data rate")

// dataRateError is the timeout of a read under the message's deadline.
// It is still a net.Error timeout, so callers that answer timeouts
// answer it; ErrMinDataRate tells it apart.
type dataRateError struct{ err error }

func (e *dataRateError) Error() string   { return ErrMinDataRate.Error() + ": " + e.err.Error() }
func (e *dataRateError) Unwrap() []error { return []error{ErrMinDataRate, e.err} }
func (e *dataRateError) Timeout() bool   { return true }
func (e *dataRateError) Temporary() bool { return true }

// minDataRateMsg is Postfix's text for a client past its deadline.
const minDataRateMsg = "Error: timeout exceeded"

// startData gives a new message DataTimeout to spend waiting for data.
func (c *Conn) startData() {
	c.dataLeft = c.server.DataTimeout
}

// dataDeadline sets the deadline of the next read of message data: the
// message's balance from now, or DataTimeout with no minimum rate. It is
// set here, on the connection's goroutine, by the reader of the data:
// when the session set it from its own reads of a BDAT chunk, which come
// from another goroutine through a pipe, its last one could land after
// readLine's, so the wait for the next BDAT command line got DataTimeout
// instead of ReadTimeout.
func (c *Conn) dataDeadline() {
	d := c.server.DataTimeout
	if d == 0 {
		return
	}
	c.dataRated = false
	if c.server.MinDataRate > 0 && c.dataLeft < d {
		d, c.dataRated = c.dataLeft, true
	}
	c.dataWait = time.Now()
	c.conn.SetReadDeadline(c.dataWait.Add(d))
}

// dataRead charges a read of message data that took n bytes from the
// connection (err its error) to the message's balance, and marks a
// timeout under the balance with ErrMinDataRate.
func (c *Conn) dataRead(n int, err error) error {
	if c.server.MinDataRate <= 0 || c.server.DataTimeout == 0 {
		return err
	}
	if err != nil && c.dataRated && isTimeout(err) {
		return &dataRateError{err}
	}
	earned := time.Duration(n) * time.Second / time.Duration(c.server.MinDataRate)
	c.dataLeft += earned - time.Since(c.dataWait)
	if c.dataLeft > c.server.DataTimeout {
		c.dataLeft = c.server.DataTimeout
	}
	return err
}
