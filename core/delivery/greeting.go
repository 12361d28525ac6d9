package delivery

import "github.com/emersion/go-smtp"

// greetingRefused is a server's refusal in its greeting (RFC 5321 §3.1,
// §4.2: a 554 "no SMTP service here", a 421 "not available now"). The
// reply is the server's own, so the recipients it leaves deferred record
// it as such: its code and text, and the server as their Remote-MTA (RFC
// 3464 §2.3.5), where Postfix reports "host … refused to talk to me: 554
// …" with Diagnostic-Code smtp and Remote-MTA that host. Before, they got
// Sluice's "451 4.4.1 No mail server could be reached" quoting the reply,
// with no Remote-MTA, as if no server had answered.
type greetingRefused struct{ reply *smtp.SMTPError }

func (e *greetingRefused) Error() string { return replyText(e.reply) }
func (e *greetingRefused) Unwrap() error { return e.reply }

// outcome is what the refusal does to the recipients when no later server
// takes them: they are deferred, after a 5xx too. Postfix passes over a
// server that greets with 5xx as over one that greets with 4xx
// (smtp_skip_5xx_greeting = yes, its default: on to the next MX and, at
// the last, a deferral, its dsn 5.X.X logged as 4.X.X): a refusal to talk
// at all says nothing of the recipients, and a server misconfigured or
// overloaded says 554 for a while. The mail is returned if it expires.
func (e *greetingRefused) outcome() outcome {
	o := theirs(temporary(replyText(e.reply)))
	o.refusedGreeting = true
	return o
}

// siteFailed reports whether an attempt that ended with res, via the
// server named (none: ""), counts against its destination's backoff: no
// server answered, one said 421 (saw421), or the one whose reply the
// recipients keep refused in its greeting, serving no mail at all. A
// server that answered and deferred recipients one by one works.
func siteFailed(res map[string]outcome, via string, saw421 bool) bool {
	if via == "" || saw421 {
		return true
	}
	for _, o := range res {
		if o.refusedGreeting {
			return true
		}
	}
	return false
}
