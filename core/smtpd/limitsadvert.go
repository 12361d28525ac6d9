package smtpd

import (
	"strconv"

	"github.com/emersion/go-smtp"
)

// advertisedLimits is the LIMITS parameter (RFC 9422) of an EHLO on sc:
// the limits the session enforces itself, as RFC 9422 would have a
// server advertise, so that a client that reads them splits its
// recipients and messages rather than have them refused. RCPTMAX is
// max_recipients, the recipients one transaction takes (452 4.5.3 past
// it, session.rcpt); MAILMAX is max_messages_per_connection, the
// transactions one connection opens (421 4.7.0 past it), for a client it
// applies to: not one in relay_networks, which may send any number (an
// AUTH later only makes it apply). Both are read at each EHLO, a reload's
// included; XCLIENT's and PROXY's client is the one asked about.
func (s *Server) advertisedLimits(sc *smtp.Conn) string {
	lim := s.lim()
	p := "RCPTMAX=" + strconv.Itoa(lim.MaxRecipients)
	if n := lim.MaxMessagesPerConnection; n > 0 {
		if c := connOf(sc); c != nil && !s.inRelayNetworks(&c.info) {
			p += " MAILMAX=" + strconv.Itoa(n)
		}
	}
	return p
}
