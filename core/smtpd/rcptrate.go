package smtpd

import (
	"strings"

	"github.com/sluice-mta/sluice/core/reply"
)

// recipient_rate_per_sender bounds the recipients a sender may add a
// minute, which message_rate_per_sender alone leaves at that rate times
// max_recipients: a stolen submission password would send to 60,000
// addresses a minute. recipient_rate_per_ip bounds those of one client
// (Postfix's smtpd_client_recipient_rate_limit), whatever senders it
// gives. A token of each is spent for each recipient accepted; one
// refused after the rates (the Policy: a stage, an unknown user, a
// refusal held back by delay_reject) gives its tokens back, and so do
// all of a transaction's when no message comes of it (RSET, QUIT or a
// lost connection before the end of the data, a message refused at
// DATA), so that the limits count what is sent, as the recipient quotas
// Postfix sites run (policyd-rate-limit, postfwd at END-OF-MESSAGE)
// count a message's recipients. sluice sendmail, which resets the
// transaction when one recipient is refused, does not lose the rest's
// tokens.

// rcptKeys are the buckets of the recipient rates one recipient spent a
// token from ("" none): the sender's and the client's. They stay the
// same through a transaction.
type rcptKeys struct{ sender, ip string }

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

// clientRateKey is the bucket of the per-IP recipient rate: the client
// by clientKey, as message_rate_per_ip counts it. A client in
// relay_networks is not limited (Postfix's
// smtpd_client_event_limit_exceptions, $mynetworks); one that
// authenticated is, as by message_rate_per_ip. None while the rate is
// off (the default): it spends no token then, which a transaction must
// not give back if a reload turns the rate on before it ends, and an
// RCPT need not pay for a key.
func (s *Server) clientRateKey(info *SessionInfo) (key string, ok bool) {
	if !s.rcptRateIP.on() || s.inRelayNetworks(info) {
		return "", false
	}
	return s.clientKey(info.Client.Addr()).String(), true
}

// takeRcptRate spends a token of the client's and of the transaction's
// sender's recipient buckets for one recipient; it returns the refusal
// when either has none left (spending neither), and the keys to give the
// tokens back under (giveRcptRate) when the recipient is refused after
// all.
func (s *Server) takeRcptRate(info *SessionInfo) (rcptKeys, *reply.Reply) {
	now := s.clock()
	var k rcptKeys
	if key, ok := s.clientRateKey(info); ok {
		if !s.rcptRateIP.take(key, now) {
			return rcptKeys{}, recipientRateIP.With("recipient_rate_per_ip " + key)
		}
		k.ip = key
	}
	// Off, recipient_rate_per_sender spends nothing either (the key is
	// message_rate_per_sender's too, whatever this rate).
	if key, ok := s.senderRateKey(info, info.From); ok && s.rcptRate.on() {
		if !s.rcptRate.take(key, now) {
			s.giveRcptRate(k, 1)
			return rcptKeys{}, recipientRateSender.With("recipient_rate_per_sender " + key)
		}
		k.sender = key
	}
	return k, nil
}

// giveRcptRate returns n tokens of each bucket takeRcptRate spent from
// under k.
func (s *Server) giveRcptRate(k rcptKeys, n int) {
	if n <= 0 {
		return
	}
	if k.ip != "" {
		s.rcptRateIP.give(k.ip, n)
	}
	if k.sender != "" {
		s.rcptRate.give(k.sender, n)
	}
}

// rcptSpent counts the tokens a transaction's recipients spent from each
// bucket of its rcptKeys: apart, since a reload may turn a rate on or off
// between two recipients, and a bucket must get back only its own.
type rcptSpent struct{ sender, ip int }

// spend notes the tokens one accepted recipient spent under k.
func (tx *txn) spend(k rcptKeys) {
	if k.sender != "" {
		tx.rateKeys.sender = k.sender
		tx.rateSpent.sender++
	}
	if k.ip != "" {
		tx.rateKeys.ip = k.ip
		tx.rateSpent.ip++
	}
}

// refundRate gives back the tokens tx's recipients spent, once: the
// transaction ended without a message taken.
func (s *session) refundRate(tx *txn) {
	s.mu.Lock()
	k, n := tx.rateKeys, tx.rateSpent
	tx.rateSpent = rcptSpent{}
	s.mu.Unlock()
	s.srv.giveRcptRate(rcptKeys{sender: k.sender}, n.sender)
	s.srv.giveRcptRate(rcptKeys{ip: k.ip}, n.ip)
}
