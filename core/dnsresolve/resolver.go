// Package dnsresolve asks DNS the questions mail delivery needs (MX, A,
// AAAA) and keeps the answers' meaning apart: a name that does not exist, a
// name with no records of the type, and a resolver that could not answer.
// It is the only package outside tests that imports miekg/dns.
package dnsresolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// resolvConf is where New finds nameservers when none are configured.
const resolvConf = "/etc/resolv.conf"

// ednsSize is the EDNS0 UDP payload size we advertise: the DNS Flag Day 2020
// recommendation, small enough to avoid IP fragmentation.
const ednsSize = 1232

// Resolver sends queries to a fixed list of recursive nameservers, in
// order, moving to the next one when a server fails or times out.
type Resolver struct {
	servers []string
	timeout time.Duration
	udp     *dns.Client
	tcp     *dns.Client
}

// New returns a Resolver asking servers (host:port) in order; an empty list
// means the nameservers of /etc/resolv.conf. timeout bounds each query to
// one server (0 means 5s).
func New(servers []string, timeout time.Duration) (*Resolver, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if len(servers) == 0 {
		conf, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return nil, fmt.Errorf("dnsresolve: %w", err)
		}
		for _, s := range conf.Servers {
			servers = append(servers, net.JoinHostPort(s, conf.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("dnsresolve: no nameserver in %s", resolvConf)
		}
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("dnsresolve: bad server %q: want host:port", s)
		}
	}
	return &Resolver{
		servers: append([]string(nil), servers...),
		timeout: timeout,
		udp:     &dns.Client{Net: "udp", UDPSize: ednsSize},
		tcp:     &dns.Client{Net: "tcp"},
	}, nil
}

// query asks each server in turn for name/qtype and returns the first
// authoritative outcome: NOERROR (possibly with no answer) or NXDOMAIN.
// SERVFAIL, REFUSED, timeouts and network errors move on to the next
// server; when every server failed the result is a temporary *Error.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	var last error
	for _, srv := range r.servers {
		if err := ctx.Err(); err != nil {
			last = err
			break
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(ASCII(name)), qtype)
		m.RecursionDesired = true
		m.SetEdns0(ednsSize, false)
		resp, err := r.exchange(ctx, m, srv)
		if err != nil {
			last = fmt.Errorf("%s: %w", srv, err)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			return resp, nil
		case dns.RcodeNameError:
			return nil, &Error{Name: name, Type: dns.TypeToString[qtype], NotFound: true}
		default:
			last = fmt.Errorf("%s: %s", srv, dns.RcodeToString[resp.Rcode])
		}
	}
	if last == nil {
		last = errors.New("no nameserver")
	}
	return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Err: last}
}

// exchange sends m to srv over UDP and repeats it over TCP when the answer
// comes back truncated (RFC 1035 §4.2.1, RFC 7766 §5).
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, _, err := r.udp.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		resp, _, err = r.tcp.ExchangeContext(ctx, m, srv)
	}
	return resp, err
}
