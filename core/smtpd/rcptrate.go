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
// held back by delay_reject) gives its token back, and so do all of a
// transaction's when no message comes of it (RSET, QUIT or a lost
// connection before the end of the data, a message refused at DATA), so
// that the limit counts what is sent, as the recipient quotas Postfix
// sites run (policyd-rate-limit, postfwd at END-OF-MESSAGE) count a
// message's recipients. sluice sendmail, which resets the transaction
// when one recipient is refused, does not lose the rest's tokens.

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

// giveRcptRate returns n tokens takeRcptRate spent under key ("" took
// none).
func (s *Server) giveRcptRate(key string, n int) {
	if key != "" && n > 0 {
		s.rcptRate.give(key, n)
	}
}

// refundRate gives back the tokens tx's recipients spent, once: the
// transaction ended without a message taken.
func (s *session) refundRate(tx *txn) {
	s.mu.Lock()
	key, n := tx.rateKey, tx.rateSpent
	tx.rateSpent = 0
	s.mu.Unlock()
	s.srv.giveRcptRate(key, n)
}
