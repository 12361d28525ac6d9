package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// clientNames gives the listener each new client's verified host name
// (smtpd.Options.ClientName), asked of the running [dns], which a reload
// may replace.
type clientNames struct {
	res     atomic.Pointer[dnsresolve.Resolver]
	timeout atomic.Int64 // the whole look-up's budget, a time.Duration
	log     *slog.Logger
}

// set makes res, whose queries time out after timeout each, the resolver
// of the connections from now on.
func (n *clientNames) set(res *dnsresolve.Resolver, timeout time.Duration) {
	n.res.Store(res)
	n.timeout.Store(int64(2 * timeout))
}

// lookup returns ip's verified name, "" when it has none. A loopback
// client is named by loopbackName, without asking DNS.
//
// The look-up (a PTR query, then an A or AAAA query per name) may take
// twice the [dns] timeout in all; past that the name is unknown, as it is
// after a temporary DNS failure, which is logged.
func (n *clientNames) lookup(ctx context.Context, ip netip.Addr) string {
	if name, ok := loopbackName(ip); ok {
		return name
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n.timeout.Load()))
	defer cancel()
	name, err := n.res.Load().ClientName(ctx, ip)
	if err != nil {
		n.log.Warn("client name unknown: the DNS look-up failed", "client", ip.String(), "err", err)
	}
	return name
}

// loopbackName names a loopback address without asking DNS (ok false for
// any other): 127.0.0.1 and ::1 are "localhost", as every /etc/hosts
// says; the rest of 127.0.0.0/8 has no name. Local submission (sendmail,
// cron) then waits on no nameserver, and no query about loopback ever
// leaves the machine.
func loopbackName(ip netip.Addr) (string, bool) {
	ip = ip.Unmap()
	switch {
	case !ip.IsLoopback():
		return "", false
	case ip == netip.IPv6Loopback() || ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}):
		return "localhost", true
	default:
		return "", true
	}
}
