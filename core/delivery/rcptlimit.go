package delivery

import "github.com/sluice-mta/sluice/core/envelope"

// A destination's recipients go at most recipientLimit to a transaction
// ([delivery] recipients_per_transaction, 50, or its route's
// recipient_limit=), as Postfix's queue manager splits a message's
// recipients for one destination into groups of
// TRANSPORT_destination_recipient_limit: RFC 5321 §4.5.3.1.8 has servers
// take at least 100 recipients a transaction, and many refuse past 50 or
// 100. The transactions follow one another, in the recipients' order, on
// the connection that took the first (tryAddr), where Postfix makes each
// group a delivery of its own: its own connection from the cache, its own
// walk of the MX hosts, its own rate delay. Here the destination's
// rate_delay, backoff and attempt limits count the message's delivery
// there once, however many transactions it takes; each transaction
// counts towards messages_per_connection. Postfix, with a limit of 1,
// also makes the recipient the destination of its concurrency and rate
// delay; Sluice keeps both per domain or next hop.

// recipientLimit is how many recipients of d one transaction carries,
// 0 for no limit.
func (a *Agent) recipientLimit(d *destination) int {
	n := a.cfg.RecipientsPerTransaction
	if d.route.HasRecipientLimit {
		n = d.route.RecipientLimit
	}
	return max(n, 0) // -1: no limit
}

// nextBatch is the recipients of left the next transaction carries: the
// first limit of them (all when limit is 0), in order.
func nextBatch(left []*envelope.Recipient, limit int) []*envelope.Recipient {
	if limit > 0 && len(left) > limit {
		return left[:limit]
	}
	return left
}

// ownFor gives o, a reply of Sluice's own (no server gave it), to the
// recipients of rcpts that res has no outcome for yet: those a later
// transaction of the attempt never carried.
func ownFor(res map[string]outcome, rcpts []*envelope.Recipient, o outcome) map[string]outcome {
	o.ownReply = true
	for _, r := range rcpts {
		if _, ok := res[r.Addr]; !ok {
			res[r.Addr] = o
		}
	}
	return res
}
