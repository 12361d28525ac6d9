//go:build !linux

package smtpd

// closedBehindData is not known outside Linux, which alone has
// POLLRDHUP: there the tarpit sees a TLS client's hang-up only when
// nothing unread comes before it, that is, after its wait (watchHangup).
func closedBehindData(int) (closed, known bool) { return false, false }
