package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// deliverTo runs one attempt for destination d: it resolves the hosts to
// try and walks their addresses in order until one session carries the
// transaction. It returns each recipient's outcome and, for the log, the
// host and address that answered (empty when none did).
func (a *Agent) deliverTo(ctx context.Context, m *envelope.Message, body []byte, d *destination) (map[string]outcome, string) {
	all := func(o outcome) map[string]outcome {
		res := make(map[string]outcome, len(d.rcpts))
		for _, r := range d.rcpts {
			res[r.Addr] = o
		}
		return res
	}
	hops, final := a.hops(ctx, d)
	if final != nil {
		return all(*final), ""
	}
	var last error
	for _, h := range hops {
		addrs, err := a.addresses(ctx, h)
		if len(addrs) == 0 {
			if h.implicit && (err == nil || dnsresolve.IsNotFound(err)) {
				// RFC 5321 §5.1: no MX and no address: nowhere to deliver.
				return all(permanent(noMailHost.With(d.domain))), ""
			}
			if err == nil {
				err = fmt.Errorf("%s: no address records", h.host)
			}
			last = err
			continue
		}
		for _, addr := range addrs {
			res, err := a.tryAddr(ctx, m, body, h.host, addr, d.rcpts)
			if err == nil {
				return res, h.host + "[" + addr + "]"
			}
			last = err
			if ctx.Err() != nil {
				return all(temporary(interrupted.With(err.Error()).Error())), ""
			}
		}
	}
	if last == nil {
		last = errors.New("no host to try")
	}
	return all(temporary(noConnection.With(last.Error()).Error())), ""
}

// hops lists where d's mail may go, in order of preference, or gives the
// outcome for all of d's recipients when DNS settles it.
func (a *Agent) hops(ctx context.Context, d *destination) ([]hop, *outcome) {
	port := a.cfg.Port
	if d.relay != nil {
		return []hop{*d.relay}, nil
	}
	if ip, ok := domainLiteral(d.domain); ok {
		return []hop{{host: ip.String(), port: port}}, nil
	}
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
// error means no server there took part (connection, greeting, EHLO or
// STARTTLS failed): the caller moves on to the next address.
func (a *Agent) tryAddr(ctx context.Context, m *envelope.Message, body []byte, host, addr string, rcpts []*envelope.Recipient) (map[string]outcome, error) {
	for {
		s, err := a.pool.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		if s == nil {
			if s, err = a.connect(ctx, host, addr); err != nil {
				a.pool.drop(addr, nil)
				return nil, err
			}
		}
		res := a.transact(ctx, s, m, body, rcpts)
		if res.keep && !res.stale {
			a.pool.put(s)
		} else {
			a.pool.drop(addr, s)
		}
		if !res.stale {
			return res.rcpts, nil
		}
	}
}
