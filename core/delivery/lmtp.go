package delivery

import (
	"errors"
	"fmt"
	"os"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// badRoute: a stage set a route that does not parse. RFC 3463 X.3.5:
// system incorrectly configured; temporary, so that fixing the stage's
// configuration loses nothing.
var badRoute = reply.Reply{Code: 451, Enhanced: [3]int{4, 3, 5}, Text: "Bad route for recipient, will retry"}

// closeLMTP ends DATA on an LMTP session and reads the reply for each
// accepted recipient, in RCPT order (RFC 2033 §4.2): each recipient gets
// its own outcome. Recipients left without a reply by a broken connection
// stay pending. The replies are keyed by the address as sent, sent[addr]
// (a Unicode domain may have gone as its A-label, see asciiEnvelope).
func (a *Agent) closeLMTP(s *session, w *smtp.DataCommand, accepted []*envelope.Recipient, sent map[string]string, res *txResult, fail func(error) outcome) {
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	errors.As(err, &perRcpt)
	// RFC 3461 §5.2.2: an LMTP server that does not offer DSN (Dovecot's
	// does not) was not given NOTIFY, so a SUCCESS request is answered
	// here with a "delivered" report, as Postfix's LMTP client does; one
	// that offers DSN got NOTIFY and reports itself.
	dsn, _ := s.client.Extension("DSN")
	for _, r := range accepted {
		addr := sent[r.Addr]
		switch {
		case resp[addr] != nil:
			res.rcpts[r.Addr] = delivered(acceptedText(resp[addr].Code, resp[addr].StatusText)).viaHop(dsn).finalDelivery()
		case perRcpt[addr] != nil:
			res.rcpts[r.Addr] = outcomeOf(perRcpt[addr])
		default:
			res.rcpts[r.Addr] = fail(lostAfterDot(s.host, err))
		}
	}
	// Only per-recipient replies: the session is intact.
	_, onlyReplies := err.(smtp.LMTPDataError)
	res.keep = (err == nil || onlyReplies) && s.client.Reset() == nil
}

// lostAfterDot is the failure of a recipient whose reply to the final dot
// never came. go-smtp joins the connection's error with the replies read
// before it (an LMTPDataError); those replies belong to other recipients,
// and taking one of them (errors.As finds the first *SMTPError) would give
// this recipient another's verdict, a 5xx failing it for good although
// the server may have delivered it. Only the connection's error is kept:
// the recipient stays pending and, as for SMTP (RFC 1047), the reply says
// the retry may deliver it twice.
func lostAfterDot(host string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, replies := err.(smtp.LMTPDataError); !replies {
			for _, e := range j.Unwrap() {
				if _, replies := e.(smtp.LMTPDataError); !replies {
					err = e
					break
				}
			}
		}
	}
	if _, ok := isReply(err); ok {
		return err
	}
	return noReplyAfterDot(host, err)
}

// noReplyAfterDot is err, the failure to read the reply to the final dot,
// named as Postfix names it: the server may have the message. A reply
// that never came within the timeout is told from a lost connection, as
// for the body (Postfix: "conversation with HOST timed out while sending
// end of data"); it was "lost connection" either way.
func noReplyAfterDot(host string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("conversation with %s timed out after end of data, the message may be delivered more than once: %w", host, err)
	}
	return fmt.Errorf("lost connection with %s after end of data, the message may be delivered more than once: %w", host, err)
}
