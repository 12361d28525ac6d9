package smtpd

import (
	"github.com/sluice-mta/sluice/core/config"
)

// The [limits] a server runs with are replaced by a reload (SetLimits).
// Each check reads the current ones, so an open session meets a lowered
// max_recipients or max_errors at its next command; the limits go-smtp
// holds (max_message_size, which EHLO advertises as SIZE, max_line_length
// the timeouts and min_data_rate) apply to connections accepted after the change, each
// listener's older sessions finishing under the go-smtp server they began
// with. The per-client tables keep what they counted.

// lim is the server's current [limits].
func (s *Server) lim() *config.Limits { return s.limits.Load() }

// SetLimits makes c's [limits] the running server's, for a config reload,
// except client_ipv6_prefix_length, under which open connections are
// counted: it keeps its value until a restart (RestartLimits names it).
// queue_minfree applies at the next MAIL or end of DATA, as at Postfix's
// reload; a daemon passing Options.MinFree changes that value itself.
func (s *Server) SetLimits(c *config.Config) {
	old := s.lim()
	next := c.Limits
	next.ClientIPv6PrefixLength = old.ClientIPv6PrefixLength
	s.limits.Store(&next)
	s.connRate.setRate(connRate(&next), nil)
	s.msgRateIP.setRate(next.MessageRatePerIP, nil)
	s.msgRateSender.setRate(next.MessageRatePerSender, senderRates(&next, messageRateOf))
	s.rcptRate.setRate(next.RecipientRatePerSender, senderRates(&next, recipientRateOf))
	s.rcptRateIP.setRate(next.RecipientRatePerIP, nil)
	s.authFails.set(next.AuthFailuresPerIP, next.AuthLockout.Duration)
	if smtpLimits(old) == smtpLimits(&next) {
		return
	}
	s.mu.Lock()
	ls := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()
	for _, l := range ls {
		l.setSMTP(l.newSMTP(&next))
	}
}

// RestartLimits names the [limits] keys that differ between a and b and
// that SetLimits does not apply.
func RestartLimits(a, b config.Limits) []string {
	var keys []string
	if a.ClientIPv6PrefixLength != b.ClientIPv6PrefixLength {
		keys = append(keys, "limits.client_ipv6_prefix_length")
	}
	return keys
}

// goSMTPLimits are the limits a go-smtp server holds (listener.newSMTP).
type goSMTPLimits struct {
	size, line    int64
	command, data int64
	dataRate      int
}

func smtpLimits(l *config.Limits) goSMTPLimits {
	return goSMTPLimits{l.MaxMessageSize, int64(l.MaxLineLength), int64(l.CommandTimeout.Duration), int64(l.DataTimeout.Duration), l.MinDataRate}
}

// connRate is connection_rate_per_ip as a token bucket: its rate a
// minute, as many at once.
func connRate(l *config.Limits) config.Rate {
	return config.Rate{PerMinute: l.ConnectionRatePerIP, Burst: l.ConnectionRatePerIP}
}
