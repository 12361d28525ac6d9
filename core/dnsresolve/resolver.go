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
	"strings"
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
	}, nil
}

// answerMargin is how long before the caller's deadline a query gives
// up. A plugin's hook runs under its stage's deadline; a lookup that
// waited to the very end would leave it no time to answer with its own
// outcome for a DNS failure (spf's temperror action, a DNS list skipped),
// and the core would apply on_error instead.
const answerMargin = 100 * time.Millisecond

// query asks each server in turn for name/qtype and returns the first
// authoritative outcome: NOERROR (possibly with no answer) or NXDOMAIN.
// SERVFAIL, REFUSED, timeouts and network errors move on to the next
// server; when every server failed the result is a temporary *Error.
// When the caller's time runs out (answerMargin before its deadline) the
// *Error wraps context.DeadlineExceeded, so that the caller can tell its
// own time limit from a server's failure.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return r.ask(ctx, name, qtype, false)
}

// ask is query, asking with dnssec for the resolver's validation: the AD
// bit (RFC 6840 §5.7) and EDNS0's DO bit (RFC 3225 §3, as Postfix's
// smtp_dns_support_level = dnssec asks), so that a validating resolver
// says in its answer's AD bit whether it validated it (RFC 4035 §3.2.3).
// The resolver is trusted to: Sluice does not validate signatures itself.
func (r *Resolver) ask(ctx context.Context, name string, qtype uint16, dnssec bool) (*dns.Msg, error) {
	qname := dns.Fqdn(ASCII(name))
	if _, ok := dns.IsDomainName(qname); !ok || strings.Contains(qname, "..") {
		// A name no query can carry (a label over 63 octets, an empty
		// label, over 255 octets, RFC 1035 §2.3.4) does not exist; asking
		// would fail the same way forever, so it is no temporary error.
		// Postfix's dns_lookup() says "invalid host or domain name" and
		// treats it as not found too.
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], NotFound: true}
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-answerMargin))
		defer cancel()
	}
	var last error
	for _, srv := range r.servers {
		if err := expired(ctx); err != nil {
			last = err
			break
		}
		m := new(dns.Msg)
		m.SetQuestion(qname, qtype)
		m.RecursionDesired = true
		m.SetEdns0(ednsSize, dnssec)
		m.AuthenticatedData = dnssec
		resp, err := r.exchange(ctx, m, srv)
		if err == nil && resp.Rcode == dns.RcodeFormatError && !dnssec {
			// A server that knows no EDNS0 answers a query with an OPT
			// record FORMERR (RFC 6891 §7): ask it again without one,
			// as the C library's stub resolver does (glibc, after
			// RES_F_EDNS0ERR). Every lookup through it failed. A
			// DNSSEC query is not: a resolver without EDNS0 validates
			// nothing.
			m.Extra, m.Id = nil, dns.Id()
			resp, err = r.exchange(ctx, m, srv)
		}
		if err != nil {
			if cerr := expired(ctx); cerr != nil {
				// The caller's time ran out (or it went away), not this
				// server's: say so, for callers that must tell the two apart.
				err = fmt.Errorf("%w (%v)", cerr, err)
			}
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
