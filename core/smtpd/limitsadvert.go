package smtpd

import (
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
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
	t := s.advert.Load()
	if t == nil || t.lim != lim {
		t = newLimitsText(lim)
		s.advert.Store(t)
	}
	if t.withMail != t.rcpt {
		if c := connOf(sc); c != nil && !s.inRelayNetworks(&c.info) {
			return t.withMail
		}
	}
	return t.rcpt
}

// limitsText is the LIMITS parameter for one [limits] (lim), written
// once rather than at each EHLO of every session: rcpt for a client
// MAILMAX does not apply to, withMail for the others.
type limitsText struct {
	lim            *config.Limits
	rcpt, withMail string
}

func newLimitsText(lim *config.Limits) *limitsText {
	var p []string
	if n := lim.MaxRecipients; n > 0 && n <= maxAdvertised {
		p = append(p, "RCPTMAX="+strconv.Itoa(n))
	}
	t := &limitsText{lim: lim, rcpt: strings.Join(p, " ")}
	if n := lim.MaxMessagesPerConnection; n > 0 && n <= maxAdvertised {
		p = append(p, "MAILMAX="+strconv.Itoa(n))
	}
	t.withMail = strings.Join(p, " ")
	return t
}
