// Package reply defines typed SMTP replies: a code, an enhanced status code
// (RFC 3463), a text safe to show the client, and a separate reason for the
// log. Code outside this package names replies instead of writing literals.
package reply

import "fmt"

// Reply is one SMTP reply.
type Reply struct {
	Code     int    // 3-digit basic code (RFC 5321 §4.2)
	Enhanced [3]int // RFC 3463 class.subject.detail; zero value = none
	Text     string // shown to the client
	Reason   string // internal detail for the log only
}

// Error makes a Reply usable as an error.
func (r *Reply) Error() string {
	if r.Reason != "" {
		return fmt.Sprintf("%s (%s)", r.String(), r.Reason)
	}
	return r.String()
}

// String renders the reply as it appears on the wire (one line).
func (r *Reply) String() string {
	if r.Enhanced == [3]int{} {
		return fmt.Sprintf("%d %s", r.Code, r.Text)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// Temporary reports whether the reply is a 4xx.
func (r *Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports whether the reply is a 5xx.
func (r *Reply) Permanent() bool { return r.Code >= 500 }

// With returns a copy carrying an internal reason.
func (r Reply) With(reason string) *Reply {
	r.Reason = reason
	return &r
}

// Named replies used across the core.
var (
	// RFC 5321 §3.6.2 / RFC 7372: relaying denied.
	RelayDenied = Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Relay access denied"}
	// RFC 1870 §6.3: message size exceeds fixed maximum.
	TooBig = Reply{Code: 552, Enhanced: [3]int{5, 3, 4}, Text: "Message size exceeds fixed maximum message size"}
	// RFC 5321 §4.5.3.1.10: too many recipients.
	TooManyRcpts = Reply{Code: 452, Enhanced: [3]int{4, 5, 3}, Text: "Too many recipients"}
	// RFC 5321 §2.3.8: bare CR or LF in DATA.
	BareNewline = Reply{Code: 550, Enhanced: [3]int{5, 5, 2}, Text: "Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)"}
	// Local problem while storing: the client should retry.
	QueueError = Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Temporary local problem, please try again later"}
	// Shutdown in progress.
	ShuttingDown = Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "Service shutting down, try again later"}
	// Bad address syntax.
	BadAddress = Reply{Code: 501, Enhanced: [3]int{5, 1, 3}, Text: "Bad recipient address syntax"}
	BadSender  = Reply{Code: 501, Enhanced: [3]int{5, 1, 7}, Text: "Bad sender address syntax"}
	// RFC 7505 §4.2: null MX.
	NullMX = Reply{Code: 556, Enhanced: [3]int{5, 1, 10}, Text: "Recipient domain does not accept mail (null MX)"}
	// Delivery gave up after max_age.
	Expired = Reply{Code: 554, Enhanced: [3]int{5, 4, 7}, Text: "Delivery time expired"}
)
