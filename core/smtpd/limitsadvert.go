package smtpd

import (
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// maxAdvertised is the largest value RFC 9422 §4 lets MAILMAX and RCPTMAX
// take (1*6DIGIT). A larger setting is left out of LIMITS, as no limit a
// client would reach, rather than written in a form a client may reject.
const maxAdvertised = 999999

// advertisedLimits is the LIMITS parameter (RFC 9422) of an EHLO on sc:
// the limits the session enforces itself, as RFC 9422 would have a
// server advertise, so that a client that reads them splits its
// recipients and messages rather than have them refused. RCPTMAX is
// max_recipients, the recipients one transaction takes (452 4.5.3 past
// it, session.rcpt); MAILMAX is max_messages_per_connection, the
// transactions one connection opens (421 4.7.0 past it), for a client it
// applies to: not one in relay_networks, which may send any number (an
// AUTH does not change that). Both are read at each EHLO, a reload's
// included; XCLIENT's and PROXY's client is the one asked about. ""
// (no LIMITS keyword) when neither is advertised.
func (s *Server) advertisedLimits(sc *smtp.Conn) string {
	lim := s.lim()
	var p []string
	if n := lim.MaxRecipients; n > 0 && n <= maxAdvertised {
		p = append(p, "RCPTMAX="+strconv.Itoa(n))
	}
	if n := lim.MaxMessagesPerConnection; n > 0 && n <= maxAdvertised {
		if c := connOf(sc); c != nil && !s.inRelayNetworks(&c.info) {
			p = append(p, "MAILMAX="+strconv.Itoa(n))
		}
	}
	return strings.Join(p, " ")
}
