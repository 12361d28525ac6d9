package delivery

import "fmt"

// attemptLimits counts what one attempt at a destination has used of
// [delivery] mx_address_limit and mx_session_limit, Postfix's
// smtp_mx_address_limit and smtp_mx_session_limit: without them a domain
// whose 50 MX hosts of 10 addresses each all time out holds a worker for
// 500 connect timeouts, on every retry. RFC 5321 §5.1 leaves how many
// alternatives to try to the client ("SHOULD try at least two").
type attemptLimits struct {
	maxAddrs, maxSessions int // -1: no limit
	addrs                 int // addresses dialled (or taken from the pool)
	sessions              int // of those, sessions that completed the handshake
}

func (a *Agent) attemptLimits() *attemptLimits {
	return &attemptLimits{maxAddrs: a.cfg.MXAddressLimit, maxSessions: a.cfg.MXSessionLimit}
}

// note counts an address tried; session reports that a server there got
// through greeting, EHLO and STARTTLS, so that the transaction ran (and
// did not take the message). As in Postfix 2.3 and later, sessions that
// failed earlier count towards the address limit only.
func (l *attemptLimits) note(session bool) {
	l.addrs++
	if session {
		l.sessions++
	}
}

// reached names the limit the attempt has reached, "" while none is.
func (l *attemptLimits) reached() string {
	switch {
	case l.maxAddrs > 0 && l.addrs >= l.maxAddrs:
		return fmt.Sprintf("%d addresses tried (mx_address_limit)", l.addrs)
	case l.maxSessions > 0 && l.sessions >= l.maxSessions:
		return fmt.Sprintf("%d servers answered without taking the message (mx_session_limit)", l.sessions)
	}
	return ""
}
