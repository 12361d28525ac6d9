package smtpd

import (
	"strings"

	"github.com/sluice-mta/sluice/core/reply"
)

// recipient_rate_per_sender bounds the recipients a sender may add a
// minute, which message_rate_per_sender alone leaves at that rate times
// max_recipients: a stolen submission password would send to 60,000
// addresses a minute. A token is spent for each recipient accepted; one
// refused after the rate (the Policy: a stage, an unknown user, a refusal
// held back by delay_reject) gives its token back, so that the limit
// counts what would be sent, as the recipient quotas Postfix sites run
// (policyd-rate-limit, postfwd) count a message's accepted recipients.

// senderRateKey is the bucket of the per-sender rates for the transaction
// from: the AUTH user, else the reverse-path. ok is false when the sender
// is not limited: the null reverse-path, which has no bucket, and an
// unauthenticated client in relay_networks (the site's own applications,
// as Postfix's mynetworks); an authenticated user always counts, so that
// a stolen password cannot send without bound.
func (s *Server) senderRateKey(info *SessionInfo, from string) (key string, ok bool) {
	switch {
	case info.AuthUser != "":
		return "user:" + strings.ToLower(info.AuthUser), true
	case from == "" || s.inRelayNetworks(info):
		return "", false
	}
	return strings.ToLower(from), true
}

// takeRcptRate spends a token of the transaction's sender for one
// recipient; it returns the refusal when there is none left, and the
// key to give the token back under (giveRcptRate) when the recipient is
// refused after all.
func (s *Server) takeRcptRate(info *SessionInfo) (key string, r *reply.Reply) {
	key, ok := s.senderRateKey(info, info.From)
	if !ok {
		return "", nil
	}
	if !s.rcptRate.take(key, s.clock()) {
		return "", recipientRateSender.With("recipient_rate_per_sender " + key)
	}
	return key, nil
}

// giveRcptRate returns the token takeRcptRate spent under key ("" took
// none).
func (s *Server) giveRcptRate(key string) {
	if key != "" {
		s.rcptRate.give(key)
	}
}
