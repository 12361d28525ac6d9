package filter

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Resolver answers the DNSBL and RHSBL queries. *dnsresolve.Resolver
// satisfies it; NXDOMAIN must satisfy dnsresolve.IsNotFound.
type Resolver interface {
	LookupA(ctx context.Context, host string) ([]netip.Addr, error)
}

// maxCached bounds the answer cache; when full, expired answers are
// dropped, and if none has expired the cache starts afresh.
const maxCached = 50000

// dnsLists looks names up in DNS lists (RFC 5782) and caches the answers
// for the life of the plugin process.
type dnsLists struct {
	r   Resolver
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedAnswer
}

// cachedAnswer is one list answer: the addresses of the answer that
// are listings (none when not listed).
type cachedAnswer struct {
	listed  []netip.Addr
	expires time.Time
}

// listed is a DNS list's listing of a client IP or a domain.
type listed struct {
	what string // the IP or the domain asked about
	list dnsList
	addr netip.Addr // the answer that lists it
}

func (l listed) String() string {
	return fmt.Sprintf("%s listed in %s (%s)", l.what, l.list.zone, l.addr)
}

// ipQuery is the name to ask a DNSBL zone about ip (RFC 5782 §2): the
// IPv4 octets reversed, or the 32 nibbles of an IPv6 address reversed,
// followed by the zone.
func ipQuery(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", a[3], a[2], a[1], a[0])
	} else {
		a := ip.As16()
		const hex = "0123456789abcdef"
		for i := len(a) - 1; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(zone)
	return b.String()
}

// domainQuery is the name to ask a domain-name list (RHSBL) about domain:
// the domain itself followed by the zone (RFC 5782 §2). ok is false when
// domain cannot be a domain name (an address literal, an empty name).
func domainQuery(domain, zone string) (string, bool) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if d == "" || strings.HasPrefix(d, "[") || strings.ContainsAny(d, " \t@[]") || strings.Contains(d, "..") {
		return "", false
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", false
	}
	return d + "." + zone, true
}

// listedAnswer reports whether a list's A answer means "listed": any
// address in 127.0.0.0/8 (RFC 5782 §2), except 127.0.0.1, which lists do
// not use for a listing (URIBL answers it to a refused query), and
// 127.255.255.0/24, which Spamhaus and others use to signal a refused or
// malformed query, not a listing.
func listedAnswer(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] == 127 && a != netip.AddrFrom4([4]byte{127, 0, 0, 1}) && !(b[1] == 255 && b[2] == 255)
}

// lookup asks for name's A records and returns those that are
// listings. NXDOMAIN is "not listed"; any other failure is returned (and
// not cached) so that the caller can fail open.
func (d *dnsLists) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	now := d.now()
	d.mu.Lock()
	if c, ok := d.cache[name]; ok && now.Before(c.expires) {
		d.mu.Unlock()
		return c.listed, nil
	}
	d.mu.Unlock()

	addrs, err := d.r.LookupA(ctx, name)
	if err != nil && !dnsresolve.IsNotFound(err) {
		return nil, err
	}
	var listings []netip.Addr
	for _, a := range addrs {
		if listedAnswer(a) {
			listings = append(listings, a.Unmap())
		}
	}
	if len(listings) == 0 && len(addrs) > 0 {
		// An answer that is no listing is the list telling us it refuses
		// us (Spamhaus's 127.255.255.254 through a public resolver) or a
		// zone gone wrong (a lapsed domain's wildcard): not a listing,
		// but the operator must hear of it, and it is asked again.
		return nil, fmt.Errorf("%s: answered %s, not a listing", name, addrs[0])
	}
	d.mu.Lock()
	if len(d.cache) >= maxCached {
		for k, c := range d.cache {
			if !now.Before(c.expires) {
				delete(d.cache, k)
			}
		}
		if len(d.cache) >= maxCached {
			clear(d.cache)
		}
	}
	d.cache[name] = cachedAnswer{listed: listings, expires: now.Add(d.ttl)}
	d.mu.Unlock()
	return listings, nil
}

// checkIP looks ip up in each list in order and returns the first
// listing; an answer its filter does not count is none. A list that
// cannot answer counts as not listing (fail open, as Postfix does); the
// failure goes to note.
func (d *dnsLists) checkIP(ctx context.Context, ip netip.Addr, lists []dnsList, note func(string)) (listed, bool) {
	for _, l := range lists {
		answers, err := d.lookup(ctx, ipQuery(ip, l.zone))
		if err != nil {
			note(err.Error())
		}
		if a, ok := l.listing(answers); ok {
			return listed{what: ip.Unmap().String(), list: l, addr: a}, true
		}
	}
	return listed{}, false
}

// checkDomains looks each domain up in each list and returns the first
// listing (failures as in checkIP).
func (d *dnsLists) checkDomains(ctx context.Context, domains []string, lists []dnsList, note func(string)) (listed, bool) {
	for _, dom := range domains {
		for _, l := range lists {
			q, ok := domainQuery(dom, l.zone)
			if !ok {
				continue
			}
			answers, err := d.lookup(ctx, q)
			if err != nil {
				note(err.Error())
			}
			if a, ok := l.listing(answers); ok {
				return listed{what: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(dom), ".")), list: l, addr: a}, true
			}
		}
	}
	return listed{}, false
}
