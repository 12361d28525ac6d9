package dnsresolve

import (
	"context"
	"net/netip"
	"strings"
)

// maxClientPTR bounds the PTR names ClientName checks, as RFC 7208 §5.5
// bounds SPF's ptr mechanism: an address may have many, and each costs a
// forward lookup while the client waits for the greeting.
const maxClientPTR = 10

// ClientName returns ip's verified host name: a name of its PTR records
// whose A records (AAAA for an IPv6 address) include ip again — forward-
// confirmed reverse DNS, what Postfix calls the client's name and writes
// in Received. It is lower case, without the trailing dot.
//
// "" with a nil error means the address has no such name (no PTR, a PTR
// name that is no host name, or none that resolves back to ip): Postfix's
// "unknown". A temporary failure (SERVFAIL, a time-out) with no name
// verified is returned as the error, and the name is then unknown too;
// Postfix's reject_unknown_client_hostname tells the two apart.
func (r *Resolver) ClientName(ctx context.Context, ip netip.Addr) (string, error) {
	ip = ip.Unmap()
	names, err := r.LookupPTR(ctx, ip)
	if err != nil {
		if IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	qtype := r.LookupA
	if ip.Is6() {
		qtype = r.LookupAAAA
	}
	var tempErr error
	for i, name := range names {
		if i == maxClientPTR {
			break
		}
		name = strings.ToLower(name)
		if !IsHostName(name) {
			continue
		}
		addrs, err := qtype(ctx, name)
		if err != nil {
			if IsTemporary(err) && tempErr == nil {
				tempErr = err
			}
			continue
		}
		for _, a := range addrs {
			if a == ip {
				return name, nil
			}
		}
	}
	return "", tempErr
}

// IsHostName reports whether name is a host name as RFC 1123 §2.1 writes
// one: dot-separated labels of letters, digits and inner hyphens, each at
// most 63 octets, 253 in all, and not all digits (an address in disguise,
// which Postfix's valid_hostname refuses too). Anything else a PTR record
// (or an XCLIENT NAME) names would end up in Received and in the stages'
// rules.
func IsHostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	digitsOnly := true
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digitsOnly = false
			default:
				return false
			}
		}
	}
	return !digitsOnly
}
