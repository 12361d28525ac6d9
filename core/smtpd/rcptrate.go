package smtpd

import (
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// recipient_rate_per_sender bounds the recipients a sender may add a
// minute, which message_rate_per_sender alone leaves at that rate times
// max_recipients: a stolen submission password would send to 60,000
// addresses a minute. A token is spent for each recipient accepted; one
// refused after the rate (the Policy: a stage, an unknown user, a
// refusal held back by delay_reject) gives it back, and so do all of a
// transaction's when no message comes of it (RSET, QUIT or a lost
// connection before the end of the data, a message refused at DATA), so
// that the limit counts what is sent, as the recipient quotas Postfix
// sites run (policyd-rate-limit, postfwd at END-OF-MESSAGE) count a
// message's recipients. sluice sendmail, which resets the transaction
// when one recipient is refused, does not lose the rest's tokens.
//
// recipient_rate_per_ip bounds those of one client, whatever senders it
// gives: Postfix's smtpd_client_recipient_rate_limit, which counts
// "regardless of whether or not Postfix actually accepts those
// recipients" (postconf(5)). Its smtpd counts each RCPT of a
// transaction (rcpt_cmd's anvil_clnt_rcpt) before it looks at the
// address, and so does Sluice (session.rcpt): a relay attempt, an
// unknown user, an address Sluice refuses, one over max_recipients or
// repeated all count, and nothing is given back. A client guessing
// addresses, every guess refused, is what the limit is there to stop;
// counting only what was accepted, it never tripped. A path go-smtp
// cannot parse, or a source route, is refused before the session sees
// the RCPT, and counts only as an error (max_errors, the tarpit).

// clientRateKey is the bucket of the per-IP recipient rate: the client
// by clientKey, as message_rate_per_ip counts it. A client in
// relay_networks is not limited (Postfix's
// smtpd_client_event_limit_exceptions, $mynetworks); one that
// authenticated is, as by message_rate_per_ip. None while the rate is
// off (the default): an RCPT need not pay for a key then.
func (s *Server) clientRateKey(info *SessionInfo) (key string, ok bool) {
	if !s.rcptRateIP.on() || s.inRelayNetworks(info) {
		return "", false
	}
	return s.clientKey(info.Client.Addr()).String(), true
}

// takeRcptRateIP spends a token of the client's recipient bucket for one
// RCPT of a transaction, whatever its answer will be; it returns the
// refusal when the bucket has none left (spending none).
func (s *Server) takeRcptRateIP(info *SessionInfo) *reply.Reply {
	key, ok := s.clientRateKey(info)
	if ok && !s.rcptRateIP.take(key, s.clock()) {
		return recipientRateIP.With("recipient_rate_per_ip " + key)
	}
	return nil
}

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
	// Folded as config folds [limits.sender_overrides] keys: an
	// internationalized domain is one sender in UTF-8 (SMTPUTF8) and as
	// A-labels, and one bucket.
	return envelope.FoldAddress(from), true
}

// takeRcptRate spends a token of the transaction's sender's recipient
// bucket for one recipient; it returns the refusal when there is none
// left, and the key to give the token back under (giveRcptRate) when the
// recipient is refused after all: "" when none was spent. Off for the
// sender ([limits]' rate or the sender's override), the rate spends
// nothing (the key is message_rate_per_sender's too, whatever this
// rate), which a transaction must not give back if a reload turns the
// rate on before it ends.
func (s *Server) takeRcptRate(info *SessionInfo) (string, *reply.Reply) {
	key, ok := s.senderRateKey(info, info.From)
	if !ok || !s.rcptRate.onFor(key) {
		return "", nil
	}
	if !s.rcptRate.take(key, s.clock()) {
		return "", recipientRateSender.With("recipient_rate_per_sender " + key)
	}
	return key, nil
}

// giveRcptRate returns n tokens takeRcptRate spent under key.
func (s *Server) giveRcptRate(key string, n int) {
	if key != "" && n > 0 {
		s.rcptRate.give(key, n)
	}
}

// spend notes the token one accepted recipient spent under key ("":
// none). A transaction's key stays the same through it; a reload may turn
// the rate on or off between two recipients, so only those that spent
// one are counted.
func (tx *txn) spend(key string) {
	if key != "" {
		tx.rateKey = key
		tx.rateSpent++
	}
}

// refundRate gives back the tokens tx's recipients spent, once: the
// transaction ended without a message taken.
func (s *session) refundRate(tx *txn) {
	s.mu.Lock()
	k, n := tx.rateKey, tx.rateSpent
	tx.rateSpent = 0
	s.mu.Unlock()
	s.srv.giveRcptRate(k, n)
}

// rateRefused is rcpt's answer to a refusal by a recipient rate: as over
// max_recipients, the client sends the rest later, and only a client
// that goes on and on is in error.
func (tx *txn) rateRefused(r *reply.Reply) (*reply.Reply, rcptCount) {
	if tx.overshoot++; tx.overshoot > rcptOvershoot {
		return r, rcptCounted
	}
	if tx.rateLogged {
		return r, rcptQuiet
	}
	tx.rateLogged = true
	return r, rcptFree
}
