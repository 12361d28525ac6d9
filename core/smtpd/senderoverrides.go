package smtpd

import (
	"github.com/sluice-mta/sluice/core/config"
)

// [limits.sender_overrides] gives some senders per-sender rates of their
// own: an application's one AUTH user sending 100,000 messages a minute
// beside people held to 60. The override is looked up by the bucket's
// key (senderRateKey), so it binds exactly what the rate binds: an AUTH
// user by "user:NAME", whatever its MAIL FROM; an address only for a
// client that did not authenticate. Past it, the reply is the rate's own.
// A reload replaces the overrides with the rates, each bucket keeping its
// tokens up to its new burst.

// newSenderBuckets are the buckets of a per-sender rate r, with the
// overrides of l that pick finds set.
func newSenderBuckets(r config.Rate, l *config.Limits, pick func(config.SenderRates) config.Rate) *buckets {
	b := newBuckets(r)
	b.over = senderRates(l, pick)
	return b
}

// senderRates maps the bucket key of each sender of l's overrides that
// sets the rate pick returns to that rate; nil when none does.
func senderRates(l *config.Limits, pick func(config.SenderRates) config.Rate) map[string]config.Rate {
	var m map[string]config.Rate
	for key, o := range l.SenderOverrides {
		r := pick(o)
		if r == (config.Rate{}) {
			continue // left out: [limits]' own
		}
		if r.Burst == 0 {
			r.Burst = r.PerMinute // as config makes it
		}
		if m == nil {
			m = map[string]config.Rate{}
		}
		// Folded as senderRateKey makes its keys (config has already,
		// a Config built by hand may not have).
		m[config.FoldSenderKey(key)] = r
	}
	return m
}

func messageRateOf(o config.SenderRates) config.Rate   { return o.MessageRatePerSender }
func recipientRateOf(o config.SenderRates) config.Rate { return o.RecipientRatePerSender }
