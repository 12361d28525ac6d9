package delivery

import (
	"context"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// [delivery] fallback_relay is Postfix's smtp_fallback_relay: next hops
// for the default route's recipients (MX delivery, or the relay) that
// their own hosts did not take, tried in order, each as the relay is (its
// own addresses, never its MX; its own tls= and authfile=, the
// recipients' route's tls= and source= over them). A recipient goes on to
// them when its domain was not found (NXDOMAIN, no mail host, no MX host
// with an address) or when it was deferred for any reason: no server
// reached, a 4xx or 5xx greeting, a 4xx at EHLO, MAIL, RCPT or the data, a TLS
// policy failed, an attempt limit reached, the destination in backoff.
// A 5xx from the domain's hosts is final and never goes there; nor does a
// null MX (RFC 7505: the domain takes no mail, which a relay cannot
// change, where Postfix would try it) or mail for a domain this MTA is an
// MX host of (the fallback would hand it back, Postfix's rule). The
// fallback's own answer then stands: delivered, a 5xx returns the mail, a
// 4xx or no answer defers it with a reply naming both hops. Each fallback
// relay has its own backoff, by its host and port; the recipient domain's
// counts its own hosts' failures alone, and while it is in backoff its
// mail goes to the fallback relays straight away.

// notFound is the permanent failure of a destination that could not be
// found, which the fallback relays still take.
func notFound(r *reply.Reply) outcome {
	o := permanent(r)
	o.notFound = true
	return o
}

// retried is r, a reply Sluice returns mail with, as the deferral it is
// when only a fallback relay gave cause: "451 4.7.30 …, will retry".
func retried(r *reply.Reply) *reply.Reply {
	t := *r
	t.Code, t.Enhanced[0] = 451, 4
	t.Text += ", will retry"
	return &t
}

// fallbackRoutes is [delivery] fallback_relay as routes, each written as
// the relay may be (see relayRoute).
func fallbackRoutes(relays []string) []Route {
	var out []Route
	for _, s := range relays {
		out = append(out, *relayRoute(s))
	}
	return out
}

// wantsFallback reports whether o, a recipient's outcome from its
// destination's own hosts, sends it on to the fallback relays: a deferral
// (a skipped one too: the destination in backoff) or a destination not
// found. Not a recipient withdrawn during the attempt, nor one waiting for
// a rate delay, nor one a server may have taken (the connection lost
// after the final dot: the fallback relay would deliver it twice).
func wantsFallback(o outcome) bool {
	switch {
	case o == notSent || !o.rateUntil.IsZero() || o.mayBeTaken:
		return false
	case o.status == envelope.RcptPending:
		return true
	}
	return o.status == envelope.RcptFailed && o.notFound
}

// fallBack tries the fallback relays, in order, for the recipients of d
// that res, the outcome of d's own hosts (via the server that answered),
// leaves to them, and returns the outcomes and via merged: what a fallback
// relay did for a recipient replaces what its own hosts did, but for a
// fallback relay in backoff.
func (a *Agent) fallBack(ctx context.Context, m *envelope.Message, body []byte, d *destination, res map[string]outcome, via string) (map[string]outcome, string) {
	if !a.fallsBack(d) || ctx.Err() != nil {
		return res, via
	}
	rcpts := fallbackRcpts(d.rcpts, res)
	if len(rcpts) == 0 {
		return res, via
	}
	// Each outcome names its own server, the attempt's via the last.
	out := make(map[string]outcome, len(res))
	for addr, o := range res {
		out[addr] = withVia(o, via)
	}
	// What the destination's own hosts took is saved before the fallback
	// is tried, as before a next destination: a crash meanwhile must not
	// send it again.
	saveDelivered(ctx, res, via)
	for _, rt := range a.rt.opt.Fallback {
		if len(rcpts) == 0 || ctx.Err() != nil {
			break
		}
		if !a.stillActive(m.ID) {
			// Held or deleted while the destination's hosts took it, as
			// before its next MX host or transaction: what the
			// administrator did holds for the fallback relays too.
			a.log.Info("delivery: message held or deleted during the attempt, not sent to the fallback relay", "id", m.ID, "dest", d.name)
			break
		}
		fd := a.fallbackDest(d, rt, rcpts)
		d.fellBack = append(d.fellBack, fd.name)
		a.log.Info("delivery: trying fallback_relay", "id", m.ID, "dest", d.name, "fallback", fd.name,
			"rcpts", len(rcpts), "reply", out[rcpts[0].Addr].reply)
		fres, fvia := a.deliverFallback(ctx, m, body, fd)
		if fvia != "" {
			via = fvia
		}
		for _, r := range rcpts {
			out[r.Addr] = mergeFallback(out[r.Addr], withVia(fres[r.Addr], fvia), d.name, fd.name)
		}
		if withdrawnAll(fres) {
			break // held or deleted meanwhile: no further fallback either
		}
		rcpts = fallbackRcpts(rcpts, out)
	}
	return out, via
}

// fallsBack reports whether d's recipients may go to a fallback relay:
// there is one, they take the default route, and d's hosts are not this
// MTA's.
func (a *Agent) fallsBack(d *destination) bool {
	return len(a.rt.opt.Fallback) > 0 && d.mayFallBack && !d.selfMX
}

// fallbackRcpts are the recipients of rcpts res leaves to a fallback
// relay.
func fallbackRcpts(rcpts []*envelope.Recipient, res map[string]outcome) []*envelope.Recipient {
	var out []*envelope.Recipient
	for _, r := range rcpts {
		if wantsFallback(res[r.Addr]) {
			out = append(out, r)
		}
	}
	return out
}

// withVia is o with its server named by via ("host[addr]:port"), when a
// server answered and o names none yet, nor is a reply of Sluice's own
// (a recipient a later transaction never carried, ownFor).
func withVia(o outcome, via string) outcome {
	if via == "" || o.ownReply {
		return o
	}
	if o.via == "" {
		o.via = via
	}
	if o.remote == "" && !o.ours {
		o.remote = remoteHost(via)
	}
	return o
}

// mergeFallback is a recipient's outcome once fallback relay fb gave it
// f, after p from destination dest (its own hosts, or the fallback relay
// before). A fallback relay in backoff, or the message withdrawn, leaves
// p; a deferral names both hops.
func mergeFallback(p, f outcome, dest, fb string) outcome {
	switch {
	case f == notSent:
		return p
	case f.skipped && p.status == envelope.RcptFailed:
		// Not found, and the fallback relay not tried: deferred, as
		// when it fails, for the fallback relay to take it later.
		f.skipped = false
	case f.skipped && !p.skipped:
		p.reply += " [fallback_relay " + fb + " in backoff]"
		return p
	case f.skipped || f.status != envelope.RcptPending:
		return f
	}
	f.reply += " [fallback_relay, after " + dest + ": " + p.reply + "]"
	// No server of the fallback relay answered: the reply is Sluice's,
	// not the MX's that deferred before it (RFC 3464 §2.3.5).
	f.ownReply = f.remote == ""
	return f
}

// fallbackDest is the destination that takes rcpts, of d, to fallback
// relay rt: rt's own TLS policy and AUTH, unless the recipients' route
// asks for a TLS policy of its own, and their source= over rt's, as for
// the relay (group).
func (a *Agent) fallbackDest(d *destination, rt Route, rcpts []*envelope.Recipient) *destination {
	if t := d.own.TLS; t != "" && t != TLSOpportunistic {
		rt.TLS, rt.CAFile = t, d.own.CAFile
	}
	rt.Source = rt.Source.over(d.own.Source)
	// Its backoff is its own, not that of a recipient domain of the
	// same name (a fallback relay written as a bare host).
	return &destination{name: rt.Addr, key: fallbackKey + rt.Addr, route: rt, relay: hostPort(rt.Addr, a.cfg.Port),
		rcpts: rcpts, isFallback: true}
}

// deliverFallback is deliverTo for fallback relay fd: its own backoff,
// but no rate delay of its own (the recipient domain's was taken), and no
// fallback after it but the next in the list.
func (a *Agent) deliverFallback(ctx context.Context, m *envelope.Message, body []byte, fd *destination) (map[string]outcome, string) {
	if until, ok := a.rt.backoff.blocked(fd.key, a.clock()); ok {
		o := temporary(backingOff.With(fd.name + " until " + until.UTC().Format(time.RFC3339)).Error())
		o.skipped = true
		return forAll(fd, o), ""
	}
	res, via, saw421 := a.deliverHops(ctx, m, body, fd)
	if ctx.Err() == nil && !withdrawnAll(res) {
		site := siteFailed(res, via, saw421)
		if until := a.rt.backoff.record(fd.key, a.clock(), res, site, saw421, a.rt.opt); !until.IsZero() {
			a.log.Warn("delivery: fallback_relay in backoff", "id", m.ID, "fallback", fd.name, "until", until, "after_421", saw421)
		}
	}
	return res, via
}

// fallbackKey begins a fallback relay's backoff key, written as a route's
// key is ("smtp:…") with a kind no route has, so that it is no recipient
// domain's key, nor the key of a route rule's smtp: next hop.
const fallbackKey = "fallback_relay:"

// fellBackNote is the attempt's word on its fallback relays, for the log
// line and the trace ("" when none was tried).
func fellBackNote(d *destination) string {
	return strings.Join(d.fellBack, ",")
}

// noteSelf records whether key's hosts, just tried, included this MTA,
// for as long as its failures are remembered.
func (b *backoffs) noteSelf(key string, self bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.m[key]; st != nil {
		st.self = self
	}
}

// self reports what noteSelf last recorded for key.
func (b *backoffs) self(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[key]
	return st != nil && st.self
}
