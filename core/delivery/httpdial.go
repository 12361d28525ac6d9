package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Delivery's HTTPS clients (MTA-STS policy fetches, TLS report POSTs)
// resolve their host through [dns] like every other lookup of delivery:
// the resolver that answers a domain's MX and _mta-sts TXT records also
// answers its policy host, and the system's resolv.conf is never asked.
// Only the dial changes: TLS still verifies the URL's host name.

// httpsDialMin is the least time one address of several gets before the
// next is tried, as net.Dialer's own fallback gives each.
const httpsDialMin = 2 * time.Second

// httpsDialer dials the addresses res gives for a host, in the order it
// gives them (A, then AAAA), each with a share of the context's time
// left. Connections leave from the kernel's choice of address, not
// [delivery] source_address: they are not mail (see Source).
type httpsDialer struct {
	res *dnsresolve.Resolver // nil: only IP literals are dialled
	// dial connects to one "ip:port"; nil is a net.Dialer's. Tests
	// point it at their server's port.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialContext is http.Transport's DialContext.
func (d httpsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if d.res == nil {
		return nil, fmt.Errorf("%s: no resolver configured", host)
	} else if ips, err = d.res.LookupIP(ctx, host); err != nil {
		return nil, err
	}
	ips = forNetwork(network, ips)
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: no address to dial over %s", host, network)
	}
	dial := d.dial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	var errs []error
	for i, ip := range ips {
		c, err := dialShare(ctx, len(ips)-i, func(ctx context.Context) (net.Conn, error) {
			return dial(ctx, network, net.JoinHostPort(ip.String(), port))
		})
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dialShare runs dial with 1/left of ctx's remaining time (at least
// httpsDialMin), so that an address that never answers leaves time for
// the next ones.
func dialShare(ctx context.Context, left int, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	dl, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return dial(ctx)
	}
	share := max(time.Until(dl)/time.Duration(left), httpsDialMin)
	ctx, cancel := context.WithTimeout(ctx, share)
	defer cancel() // a connection made outlives its dial's context
	return dial(ctx)
}

// forNetwork keeps the addresses network ("tcp", "tcp4", "tcp6") may
// reach.
func forNetwork(network string, ips []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if network == "tcp4" && !ip.Is4() || network == "tcp6" && !ip.Is6() {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// httpsClient is delivery's default HTTPS client: roots (nil: the
// system's), TLS 1.2 at least, a minute's timeout, no connection kept,
// names resolved by d.
func httpsClient(roots *x509.CertPool, d httpsDialer) http.Client {
	return http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext:       d.DialContext,
			TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}
