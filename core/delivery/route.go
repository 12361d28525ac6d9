package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// discarded is the reply recorded for a recipient routed to "discard".
var discarded = reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Discarded by route"}

// deliverTo runs one attempt for destination d: it resolves the hosts to
// try and walks their addresses in order until one session carries the
// transaction. It returns each recipient's outcome and, for the log, the
// host and address that answered (empty when none did). A destination in
// backoff is not tried: its recipients stay pending.
func (a *Agent) deliverTo(ctx context.Context, m *envelope.Message, body []byte, d *destination) (map[string]outcome, string) {
	if d.route.Kind == RouteDiscard {
		rcpts := make([]string, len(d.rcpts))
		for i, r := range d.rcpts {
			rcpts[i] = r.Addr
		}
		a.log.Info("delivery: discarded by route", "id", m.ID, "rcpts", rcpts)
		return forAll(d, delivered(discarded.String())), "discard"
	}
	if until, ok := a.rt.backoff.blocked(d.key, a.clock()); ok {
		o := temporary(backingOff.With(d.name + " until " + until.UTC().Format(time.RFC3339)).Error())
		o.skipped = true
		return forAll(d, o), ""
	}
	res, via, saw421 := a.deliverHops(ctx, m, body, d)
	if ctx.Err() == nil {
		// Only the site failing counts towards a backoff: no server
		// answered (DNS, connect, greeting) or one said 421. A server that
		// answered and deferred recipients one by one (a full mailbox,
		// greylisting) is working, and its other recipients go through.
		site := via == "" || saw421
		if until := a.rt.backoff.record(d.key, a.clock(), res, site, saw421, a.rt.opt); !until.IsZero() {
			a.log.Warn("delivery: destination in backoff", "dest", d.name, "until", until, "after_421", saw421)
		}
	}
	return res, via
}

// forAll gives every recipient of d the outcome o.
func forAll(d *destination, o outcome) map[string]outcome {
	res := make(map[string]outcome, len(d.rcpts))
	for _, r := range d.rcpts {
		res[r.Addr] = o
	}
	return res
}

// deliverHops is deliverTo's attempt proper; saw421 reports a server that
// answered 421 (RFC 5321 §3.8) somewhere along the way.
func (a *Agent) deliverHops(ctx context.Context, m *envelope.Message, body []byte, d *destination) (res map[string]outcome, via string, saw421 bool) {
	all := func(o outcome) map[string]outcome { return forAll(d, o) }
	hops, final := a.hops(ctx, d)
	if final != nil {
		return all(*final), "", false
	}
	var last error
	for _, h := range hops {
		var addrs []string
		var err error
		if h.lmtp == "unix" {
			addrs = []string{h.host}
		} else {
			addrs, err = a.addresses(ctx, h)
		}
		if len(addrs) == 0 {
			if h.implicit && (err == nil || dnsresolve.IsNotFound(err)) {
				// RFC 5321 §5.1: no MX and no address: nowhere to deliver.
				return all(permanent(noMailHost.With(d.domain))), "", false
			}
			if err == nil {
				err = fmt.Errorf("%s: no address records", h.host)
			}
			last = err
			continue
		}
		for _, addr := range addrs {
			res, err := a.tryAddr(ctx, m, body, h, addr, d.rcpts)
			if err == nil {
				for _, o := range res {
					saw421 = saw421 || strings.HasPrefix(o.reply, "421 ")
				}
				via = h.host + "[" + addr + "]"
				if h.lmtp == "unix" {
					via = addr
				}
				return res, via, saw421
			}
			if code, ok := isReply(err); ok && code == 421 {
				saw421 = true
			}
			last = err
			if ctx.Err() != nil {
				return all(temporary(interrupted.With(err.Error()).Error())), "", saw421
			}
		}
	}
	if last == nil {
		last = errors.New("no host to try")
	}
	return all(temporary(noConnection.With(last.Error()).Error())), "", saw421
}

// hops lists where d's mail may go, in order of preference, with the TLS
// policy for each, or gives the outcome for all of d's recipients when DNS
// (or an MTA-STS policy) settles it.
func (a *Agent) hops(ctx context.Context, d *destination) ([]hop, *outcome) {
	pol := tlsPolicy{mode: d.route.TLS, caFile: d.route.CAFile}
	switch {
	case d.route.Kind == RouteLMTP && d.route.Network == "unix":
		return []hop{{host: d.route.Addr, lmtp: "unix"}}, nil
	case d.route.Kind == RouteLMTP:
		h := hostPort(d.route.Addr, 24)
		h.lmtp = "tcp"
		return []hop{*h}, nil
	case d.relay != nil:
		h := *d.relay
		h.tls, h.authFile = pol, d.route.AuthFile
		return []hop{h}, nil
	}
	if ip, ok := domainLiteral(d.domain); ok {
		return []hop{{host: ip.String(), port: a.cfg.Port, tls: pol}}, nil
	}
	hops, o := a.mxHops(ctx, d)
	if o != nil {
		return nil, o
	}
	if d.route.TLS != "" || !a.rt.opt.MTASTS {
		for i := range hops {
			hops[i].tls = pol
		}
		return hops, nil
	}
	return a.applySTS(ctx, d.domain, hops)
}

// mxHops resolves d's domain to its MX hosts.
func (a *Agent) mxHops(ctx context.Context, d *destination) ([]hop, *outcome) {
	port := a.cfg.Port
	if a.dns == nil {
		o := temporary(dnsFailure.With("no resolver configured").Error())
		return nil, &o
	}
	mxs, err := a.dns.LookupMX(ctx, d.domain)
	var o outcome
	switch {
	case errors.Is(err, dnsresolve.ErrNullMX):
		o = permanent(reply.NullMX.With(d.domain)) // RFC 7505 §4.2
	case dnsresolve.IsNotFound(err):
		o = permanent(noSuchDomain.With(d.domain))
	case err != nil:
		o = temporary(dnsFailure.With(err.Error()).Error())
	case len(mxs) == 0:
		// RFC 5321 §5.1: no MX records: the domain is its own implicit MX.
		return []hop{{host: d.domain, port: port, implicit: true}}, nil
	default:
		hops := make([]hop, len(mxs))
		for i, mx := range mxs {
			hops[i] = hop{host: mx.Host, port: port}
		}
		return hops, nil
	}
	return nil, &o
}

// addresses resolves h to the ip:port strings to dial, A before AAAA.
// Without a resolver a relay name is left for the dialer to resolve.
func (a *Agent) addresses(ctx context.Context, h hop) ([]string, error) {
	if ip, err := netip.ParseAddr(h.host); err == nil {
		return []string{netip.AddrPortFrom(ip, uint16(h.port)).String()}, nil
	}
	if a.dns == nil {
		return []string{net.JoinHostPort(h.host, fmt.Sprint(h.port))}, nil
	}
	ips, err := a.dns.LookupIP(ctx, h.host)
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip, uint16(h.port)).String()
	}
	return out, err
}

// tryAddr runs the transaction on a pooled or new session to addr. An
// error means no server there took part (connection, greeting, EHLO,
// STARTTLS or AUTH failed): the caller moves on to the next address. A
// session goes back to the pool until it has carried the configured
// number of messages.
func (a *Agent) tryAddr(ctx context.Context, m *envelope.Message, body []byte, h hop, addr string, rcpts []*envelope.Recipient) (map[string]outcome, error) {
	key := addr
	if h.lmtp != "" {
		key = "lmtp:" + addr
	}
	if v := h.tls.variant(); v != "" {
		key += "|tls=" + v
	}
	if h.authFile != "" {
		key += "|auth=" + h.authFile
	}
	var all map[string]outcome // the outcomes of earlier transactions
	for {
		s, err := a.pool.get(ctx, key)
		if err == nil && s == nil {
			if s, err = a.connect(ctx, h, addr, key); err != nil {
				a.pool.drop(key, nil)
			}
		}
		if err != nil {
			if all != nil {
				// The recipients left keep their "too many" reply: they
				// are retried on schedule.
				return all, nil
			}
			return nil, err
		}
		res := a.transact(ctx, s, m, body, rcpts)
		switch {
		case !res.keep || res.stale:
			a.pool.drop(key, s)
		case s.used >= a.rt.opt.MessagesPerConnection:
			a.pool.drop(key, nil)
			s.quit()
		default:
			a.pool.put(s)
		}
		if res.stale {
			continue
		}
		if all == nil {
			all = res.rcpts
		} else {
			maps.Copy(all, res.rcpts)
		}
		// Recipients refused for the transaction's size go in a new one
		// at once (RFC 5321 §4.5.3.1.10), as long as each takes some: a
		// server taking 100 per transaction gets 1,000 in ten, not ten
		// retry intervals.
		if len(res.tooMany) == 0 || len(res.tooMany) == len(rcpts) || ctx.Err() != nil {
			return all, nil
		}
		rcpts = res.tooMany
	}
}
