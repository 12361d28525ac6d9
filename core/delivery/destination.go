package delivery

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// destination is a set of recipients delivered in one SMTP transaction:
// everything when relaying, otherwise the recipients of one domain.
type destination struct {
	name   string                // the relay's host:port or the recipient domain, for logs
	domain string                // lowercased recipient domain; empty when relaying
	relay  *hop                  // the smarthost, when relaying
	rcpts  []*envelope.Recipient // in message order
}

// hop is one host a destination may be reached through.
type hop struct {
	host string // name or IP literal
	port int
	// implicit marks the domain itself standing in for a missing MX
	// (RFC 5321 §5.1): a domain without addresses then accepts no mail.
	implicit bool
}

// group sorts pending recipients into destinations in order of first
// appearance. Recipients that can never be delivered (no domain, CR or LF
// in the address) come back in failed.
func (a *Agent) group(pending []*envelope.Recipient) (dests []*destination, failed map[string]outcome) {
	failed = map[string]outcome{}
	byName := map[string]*destination{}
	for _, r := range pending {
		domain, ok := domainOf(r.Addr)
		if !ok {
			failed[r.Addr] = permanent(reply.BadAddress.With("no domain in " + r.Addr))
			continue
		}
		name := domain
		if a.cfg.Relay != "" {
			name = a.cfg.Relay
		}
		d := byName[name]
		if d == nil {
			d = &destination{name: name}
			if a.cfg.Relay != "" {
				d.relay = &hop{host: a.cfg.Relay, port: a.cfg.Port}
				if host, port, err := net.SplitHostPort(a.cfg.Relay); err == nil {
					p, _ := strconv.Atoi(port)
					d.relay = &hop{host: host, port: p}
				}
			} else {
				d.domain = domain
			}
			byName[name] = d
			dests = append(dests, d)
		}
		d.rcpts = append(d.rcpts, r)
	}
	return dests, failed
}

// domainOf returns the lowercased domain of addr. The domain follows the
// last "@" (RFC 5321 §4.1.2: the local part may be quoted and contain "@").
func domainOf(addr string) (string, bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 || strings.ContainsAny(addr, "\r\n") {
		return "", false
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), "."), true
}

// domainLiteral parses an address literal domain such as "[192.0.2.1]" or
// "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3), delivered to without DNS.
func domainLiteral(domain string) (netip.Addr, bool) {
	if len(domain) < 3 || domain[0] != '[' || domain[len(domain)-1] != ']' {
		return netip.Addr{}, false
	}
	s := domain[1 : len(domain)-1]
	if len(s) > 5 && strings.EqualFold(s[:5], "ipv6:") {
		s = s[5:]
	}
	ip, err := netip.ParseAddr(s)
	return ip, err == nil
}
