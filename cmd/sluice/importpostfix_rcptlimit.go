package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// pfRcptLimitSuffix ends Postfix's per-transport recipient limit: the
// queue manager reads <transport>_destination_recipient_limit from
// main.cf for the master.cf transport of that name (postconf(5),
// transport_destination_recipient_limit; smtp_ and lmtp_ default to
// default_destination_recipient_limit, 50), and splits a message's
// recipients for one destination into groups of that many. A master.cf
// -o of it reaches the delivery agent only, which splits nothing.
const pfRcptLimitSuffix = "_destination_recipient_limit"

// pfLimit is one transport's recipient limit as Postfix's queue manager
// has it (0: none) and the parameter that set it ("" for neither the
// transport's nor default_destination_recipient_limit).
type pfLimit struct {
	n     int
	param string
}

// sluice is the limit as recipients_per_transaction and recipient_limit=
// write it: Postfix's 0, no limit, is -1.
func (l pfLimit) sluice() int {
	if l.n == 0 {
		return -1
	}
	return l.n
}

// pfPerRecipient is what a limit of 1 changes in Postfix and not here.
const pfPerRecipient = "; with a limit of 1 Postfix counts the transport's concurrency and rate delay per recipient, Sluice per domain or next hop"

// recipientLimit writes [delivery] recipients_per_transaction and
// carries the per-transport limits onto the route rules, as rateDelay
// does the rate delays: [delivery]'s is default_transport's (the MX and
// relayhost mail no rule takes), and a rule whose transport has another
// gets its own recipient_limit=.
func (im *importer) recipientLimit(b *strings.Builder, route *pfRoute) {
	p := im.p
	read := func(param string, fallback pfLimit) pfLimit {
		if !p.set(param) {
			return fallback
		}
		n, err := strconv.Atoi(strings.TrimSpace(p.value(param)))
		if err != nil || n < 0 {
			im.note(param, "not a number of recipients (0 or more)")
			return fallback
		}
		p.take(param)
		return pfLimit{n, param}
	}
	base := read("default_destination_recipient_limit", pfLimit{n: config.DefaultRecipientsPerTransaction})
	limits := map[string]pfLimit{}
	limitOf := func(t string) pfLimit {
		l, ok := limits[t]
		if !ok {
			l = read(t+pfRcptLimitSuffix, base)
			limits[t] = l
		}
		return l
	}
	def := pfTransportName(p.value("default_transport"))
	all := limitOf(def)
	if all.sluice() != config.DefaultRecipientsPerTransaction {
		from := all.param + " = " + p.value(all.param)
		if all.param != "default_destination_recipient_limit" {
			from += " (" + def + " is default_transport: MX and relayhost mail)"
		}
		if all.n == 1 {
			from += pfPerRecipient
		}
		kv(b, from, "recipients_per_transaction", strconv.Itoa(all.sluice()))
	}
	for i := range route.rules {
		r := &route.rules[i]
		if r.service == "" || r.transport == "discard" || r.transport == "reject" {
			continue
		}
		own := limitOf(r.service)
		if own.sluice() == all.sluice() {
			continue
		}
		t := withRouteParam(r.transport, "recipient_limit="+strconv.Itoa(own.sluice()))
		if _, err := delivery.ParseRoute(t); err != nil {
			im.noteAt(r.service+pfRcptLimitSuffix, fmt.Sprintf("not on the rule for %s: %v", r.match, err))
			continue
		}
		r.transport = t
		if own.param != "" {
			r.from += ", " + own.param + " = " + p.value(own.param)
		} else {
			r.from += ", no " + r.service + pfRcptLimitSuffix + " or default_destination_recipient_limit (50)"
		}
		if own.n == 1 {
			r.from += pfPerRecipient
		}
	}
	im.noteUnusedTransportParams(pfRcptLimitSuffix)
}

// pfRcptLimitOption is why master.cf's -o of a recipient limit on
// transport is not carried: it split nothing in Postfix either.
func pfRcptLimitOption(transport string) string {
	return "no effect in Postfix: the queue manager reads the recipient limit from main.cf, where " + transport + pfRcptLimitSuffix + " becomes the recipient_limit= of the route rules naming " + transport
}
