package dnsresolve

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// LookupTXT returns name's TXT records, each record's strings joined
// (RFC 7208 §3.3, RFC 6376 §3.6.2.2: a record split into several strings is
// read as their concatenation) and decoded to the bytes the zone holds.
// miekg/dns hands TXT strings over in presentation form — `"` and `\`
// backslash-escaped, bytes outside printable ASCII as \DDD — which is right
// for a zone file but wrong for a policy parser: an SPF record with a stray
// control byte must be seen as it is to be refused (RFC 7208 §4.5, §12).
// NXDOMAIN is an *Error for which IsNotFound is true; NOERROR without TXT
// records is an empty slice.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	resp, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, rr := range answers(resp) {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(unescapeTXT(s))
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}

// LookupA returns host's IPv4 addresses only.
func (r *Resolver) LookupA(ctx context.Context, host string) ([]netip.Addr, error) {
	res := r.lookupAddrs(ctx, host, dns.TypeA, false)
	return res.addrs, res.err
}

// LookupAAAA returns host's IPv6 addresses only.
func (r *Resolver) LookupAAAA(ctx context.Context, host string) ([]netip.Addr, error) {
	res := r.lookupAddrs(ctx, host, dns.TypeAAAA, false)
	return res.addrs, res.err
}

// LookupPTR returns the names of ip's reverse (in-addr.arpa / ip6.arpa)
// records, without the trailing dot.
func (r *Resolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return nil, err
	}
	resp, err := r.query(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, rr := range answers(resp) {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, strings.TrimSuffix(p.Ptr, "."))
		}
	}
	return out, nil
}

// Environment variables through which the core hands its [dns] settings to
// first-party plugin processes.
const (
	EnvServers = "SLUICE_DNS_SERVERS" // comma-separated host:port
	EnvTimeout = "SLUICE_DNS_TIMEOUT" // Go duration
)

// Env renders servers and timeout as the environment FromEnv reads.
func Env(servers []string, timeout time.Duration) []string {
	return []string{EnvServers + "=" + strings.Join(servers, ","), EnvTimeout + "=" + timeout.String()}
}

// FromEnv builds the resolver a plugin process was given by the core; with
// no servers set it falls back to /etc/resolv.conf like New.
func FromEnv() (*Resolver, error) {
	var servers []string
	for _, s := range strings.Split(os.Getenv(EnvServers), ",") {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	timeout, err := time.ParseDuration(os.Getenv(EnvTimeout))
	if err != nil || timeout <= 0 {
		timeout = 5 * time.Second
	}
	return New(servers, timeout)
}
