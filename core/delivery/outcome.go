package delivery

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// Replies delivery gives on its own behalf, when no server answered.
var (
	// RFC 3463 X.1.2: bad destination system address; the domain does not
	// exist (NXDOMAIN) or has no address to deliver to.
	noSuchDomain = reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 2}, Text: "Recipient domain does not exist"}
	noMailHost   = reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 2}, Text: "Recipient domain has neither MX nor address records"}
	// RFC 3463 X.4.4: unable to route; every MX host named by the domain
	// definitely has no address (NXDOMAIN or no A/AAAA records).
	noMXAddress = reply.Reply{Code: 550, Enhanced: [3]int{5, 4, 4}, Text: "No MX host of the recipient domain has an address"}
	// RFC 3463 X.4.6: routing loop detected; the best MX host of the
	// domain is this MTA (RFC 5321 §5.1).
	mailLoop = reply.Reply{Code: 554, Enhanced: [3]int{5, 4, 6}, Text: "Mail for the recipient domain loops back to this host"}
	// RFC 3463 X.4.3: directory server failure; DNS did not answer.
	dnsFailure = reply.Reply{Code: 451, Enhanced: [3]int{4, 4, 3}, Text: "DNS lookup failed, will retry"}
	// RFC 3463 X.4.1: no answer from host; every address failed to connect
	// or greet.
	noConnection = reply.Reply{Code: 451, Enhanced: [3]int{4, 4, 1}, Text: "No mail server could be reached, will retry"}
	// RFC 6531 §3.2: a message needing SMTPUTF8 must not go to a server
	// that does not offer it; X.6.7 is the code RFC 6531 §3.6 registers.
	noSMTPUTF8 = reply.Reply{Code: 553, Enhanced: [3]int{5, 6, 7}, Text: "Destination does not support SMTPUTF8, which the message's addresses or header fields need"}
	// Delivery was interrupted by shutdown; the next attempt will retry.
	interrupted = reply.Reply{Code: 451, Enhanced: [3]int{4, 3, 2}, Text: "Delivery interrupted, will retry"}
	// An administrator held or deleted the message during its attempt,
	// before these recipients' turn; RFC 3463 X.0.0: other status.
	withdrawn = reply.Reply{Code: 451, Enhanced: [3]int{4, 0, 0}, Text: "Not sent: held or deleted during the attempt"}
)

// notSent is the outcome of recipients whose message was withdrawn during
// its attempt, before their turn: not tried, so, as for a destination in
// backoff, no attempt is counted and the last real reply stays.
var notSent = outcome{status: envelope.RcptPending, skipped: true, reply: withdrawn.Error()}

// adminBounced is the reply recorded for a recipient failed by the
// administrator (sluice queue bounce); RFC 3463 X.0.0: other status.
var adminBounced = reply.Reply{Code: 550, Enhanced: [3]int{5, 0, 0}, Text: "Bounced by administrator"}

// outcome is what one attempt did to one recipient.
type outcome struct {
	status envelope.RcptStatus // RcptPending means a temporary failure
	reply  string              // for Recipient.LastReply
	// remote is the host that gave reply, for Remote-MTA (RFC 3464
	// §2.3.5); empty when no server answered. attempt fills it in.
	remote string
	// via is the hop as the destination's "delivery attempt" line names
	// it (host[addr]:port, "discard"), for the recipient's line; empty
	// when no server answered. attempt fills it in.
	via string
	// discarded marks a recipient counted as delivered that nothing was
	// sent to (a discard route, the deliver hook's drop): its line says
	// status=discarded, not sent.
	discarded bool
	// noDSN marks a recipient accepted by a hop that did not advertise
	// DSN: NOTIFY went no further, so a SUCCESS request is answered here
	// (RFC 3461 §5.2.2: a "relayed" report). Set with viaHop.
	noDSN bool
	// final marks acceptance as final delivery (LMTP to a mailbox): the
	// success report says "delivered" rather than "relayed".
	final bool
	// skipped marks a recipient not tried because its destination is in
	// backoff: it stays pending, but no attempt is counted and its last
	// reply is kept (as Postfix's "delivery temporarily suspended" keeps
	// the original reason).
	skipped bool
	// rateUntil, set on a skipped outcome, is the start its destination's
	// rate delay promised the recipient (rate.go): the message comes
	// back then, nothing logged or counted.
	rateUntil time.Time
	// notDue, with rateUntil its retry, marks a recipient not tried
	// because the message came back early for another destination's
	// promise (earlyRetry).
	notDue bool
	// softBounced marks a permanent failure soft_bounce deferred.
	softBounced bool
	// notFound marks a permanent failure because the destination could
	// not be found (NXDOMAIN, no mail host, no MX host with an address):
	// [delivery] fallback_relay still takes the recipient, as Postfix's
	// smtp_fallback_relay does (fallback.go).
	notFound bool
	// mayBeTaken marks a deferral after the connection was lost once the
	// final dot was sent: the server may have taken the message (RFC
	// 1047), so it goes to no other server, a fallback relay included.
	mayBeTaken bool
	// ownReply marks a reply of Sluice's own given after a server of the
	// attempt answered (a fallback relay not reached after the MX
	// deferred): it names no server, so attempt does not fill in its via
	// and Remote-MTA from the server the attempt reached.
	ownReply bool
	// ours marks a reply Sluice made itself rather than one a server
	// sent, though it may be about the server reached (no SMTPUTF8
	// offered, a SIZE the message exceeds, the connection lost): the
	// recipient's line names that server (via), but it is no Remote-MTA,
	// as it gave no reply, and a report quotes the reply as X-Sluice, not
	// smtp (RFC 3464 §2.3.5, §2.3.6), as Postfix reports its own reasons
	// (DSN_BY_LOCAL_MTA: X-Postfix, no Remote-MTA). temporary and
	// permanent make such outcomes; outcomeOf one of a server's reply.
	ours bool
	// refusedGreeting marks a server's refusal in its greeting
	// (greetingRefused): its reply and Remote-MTA, but for the backoff a
	// site that serves no mail, as one that could not be reached.
	refusedGreeting bool
	// rerouted marks a recipient a stage (routeBy) moved to route at the
	// deliver hook; recording the outcome stores both with it
	// (noteRoute).
	rerouted bool
	route    string
	routeBy  string
}

// viaHop records whether the hop that accepted the recipient advertised
// the DSN extension (EHLO keyword DSN, RFC 3461 §3).
func (o outcome) viaHop(advertisedDSN bool) outcome {
	o.noDSN = !advertisedDSN
	return o
}

// finalDelivery marks the acceptance as final delivery (LMTP).
func (o outcome) finalDelivery() outcome {
	o.final = true
	return o
}

func (o outcome) String() string { return string(o.status) + ": " + o.reply }

func delivered(text string) outcome { return outcome{status: envelope.RcptDelivered, reply: text} }

// temporary is a failure worth retrying; the recipient stays pending.
// Its text may quote the
// outside world in an error of ours (a TLS error quotes a certificate's
// names, a dial error the DNS answer), so it is made printable as a
// server's reply is.
func temporary(text string) outcome {
	return outcome{status: envelope.RcptPending, reply: printableReply(text), ours: true}
}

// permanent is a failure of Sluice's own (r is no server's reply).
func permanent(r *reply.Reply) outcome {
	return outcome{status: envelope.RcptFailed, reply: r.Error(), ours: true}
}

// theirs is o, a server's reply, no longer marked as Sluice's own.
func theirs(o outcome) outcome {
	o.ours = false
	return o
}

// outcomeOf classifies a failed SMTP command: a 5xx reply fails the
// recipient for good, a 4xx reply or a broken connection is temporary
// (RFC 5321 §4.2.1).
func outcomeOf(err error) outcome {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code >= 500 && se.Code < 600 {
			return outcome{status: envelope.RcptFailed, reply: replyText(se)}
		}
		return theirs(temporary(replyText(se)))
	}
	return temporary(err.Error()) // a broken connection: Sluice's words
}

// replyText renders a server reply the way it came on the wire, on one
// line: "451 4.3.0 try later". Its text is cut at maxReplyText: a server
// may send any number of continuation lines, and the text is stored with
// each recipient's state, logged, and quoted in reports. A control
// character in it becomes "?" (printableReply).
func replyText(se *smtp.SMTPError) string {
	msg := printableReply(se.Message)
	if len(msg) > maxReplyText {
		cut := maxReplyText
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + " [...]"
	}
	if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, ec[0], ec[1], ec[2], msg)
	}
	return fmt.Sprintf("%d %s", se.Code, msg)
}

// printableReply joins the lines of a reply's text (go-smtp joins them
// with LF) with a space and makes every other control character "?": C0
// and DEL, which RFC 5321 §4.2's textstring (HT, SP and %d33-126) does not
// allow, and C1 (U+0080-U+009F). The text reaches operators' terminals
// (the queue commands, the log read raw), where a bare CR rewrites the
// line it is on and an escape sequence acts; Postfix's smtp client makes
// what it cannot print "?" the same way. Tabs stay; bytes that are not
// UTF-8 stay for bounce.Build to replace.
func printableReply(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
			b.WriteByte(' ')
		case r == '\t', r == utf8.RuneError && n == 1:
			b.WriteString(s[i : i+n])
		case r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0:
			b.WriteByte('?')
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// acceptedText is replyText for the 2xx (250 when code is 0) a server
// gave to the data, kept as the recipient's reply.
func acceptedText(code int, status string) string {
	return replyText(&smtp.SMTPError{Code: cmp.Or(code, 250), EnhancedCode: smtp.EnhancedCodeNotSet, Message: status})
}

// maxReplyText is the most of a server reply's text kept (Postfix keeps
// lines of up to line_length_limit, 2048).
const maxReplyText = 2048

// isReply reports whether err is a reply from the server (as opposed to a
// broken connection), with its code.
func isReply(err error) (int, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, true
	}
	return 0, false
}
