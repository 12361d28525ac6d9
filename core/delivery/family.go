package delivery

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/reply"
)

// EnvAddressFamily hands [delivery] address_family to plugin processes:
// a route plugin's probe of an smtp: route then dials what delivery would.
const EnvAddressFamily = "SLUICE_DELIVERY_ADDRESS_FAMILY"

// familyOf is what probeAgent reads of EnvAddressFamily; anything but
// ipv4 or ipv6 (the daemon validated it) is any.
func familyOf() string {
	switch f := os.Getenv(EnvAddressFamily); f {
	case config.FamilyIPv4, config.FamilyIPv6:
		return f
	}
	return config.FamilyAny
}

// families is the address types delivery dials for h under [delivery]
// address_family. LMTP is exempt, as it is from source_address: a
// mailbox server on this host or the LAN is not the Internet whose
// receivers check the family mail leaves from, and Postfix's LMTP client
// has its own lmtp_address_preference.
func (a *Agent) families(h hop) dnsresolve.Families {
	if h.lmtp == "" {
		switch a.cfg.AddressFamily {
		case config.FamilyIPv4:
			return dnsresolve.Families{V4: true}
		case config.FamilyIPv6:
			return dnsresolve.Families{V6: true}
		}
	}
	return dnsresolve.Families{V4: true, V6: true}
}

// tcpNetwork is the network Dial gets for h: "tcp4" or "tcp6" restrict a
// host name the dialer resolves itself (a relay with no resolver, a
// probe's smtp: route) to the family.
func (a *Agent) tcpNetwork(h hop) string {
	switch fam := a.families(h); {
	case !fam.V6:
		return "tcp4"
	case !fam.V4:
		return "tcp6"
	}
	return "tcp"
}

// allows reports whether fam includes ip's family.
func allows(fam dnsresolve.Families, ip netip.Addr) bool {
	if ip.Unmap().Is4() {
		return fam.V4
	}
	return fam.V6
}

// familyError is a host whose only addresses are of the family
// address_family leaves out.
type familyError struct {
	host    string
	family  string // address_family: "ipv4" or "ipv6"
	literal bool   // host is an IP address
}

func (e *familyError) Error() string {
	other := "IPv6"
	if e.family == config.FamilyIPv6 {
		other = "IPv4"
	}
	if e.literal {
		return fmt.Sprintf("%s is an %s address ([delivery] address_family = %q)", e.host, other, e.family)
	}
	return fmt.Sprintf("%s has only %s addresses ([delivery] address_family = %q)", e.host, other, e.family)
}

// reply is the recipients' reply when no host had an address of the
// family: temporary, as the operator may change address_family or the
// domain add addresses; RFC 3463 X.4.4, unable to route.
func (e *familyError) reply() *reply.Reply {
	name := "IPv4"
	if e.family == config.FamilyIPv6 {
		name = "IPv6"
	}
	r := reply.Reply{Code: 451, Enhanced: [3]int{4, 4, 4}, Text: "No " + name + " address to deliver to, will retry"}
	return &r
}

// lookupFamily resolves h's addresses of the families delivery dials. A
// host with none, when DNS definitely said so, is asked for the other
// family's too (only then: the usual case asks nothing it cannot use):
// with some, the answer is a familyError, a temporary failure that names
// the reason rather than a bounce for a host that has no address; with
// none, or a definite failure, the answer stands as without the setting.
func (a *Agent) lookupFamily(ctx context.Context, h hop, fam dnsresolve.Families) (dnsresolve.Host, error) {
	found, err := a.dns.LookupIPFamilies(ctx, h.host, fam, h.dnssec)
	if !h.dnssec {
		found = dnsresolve.Host{Addrs: found.Addrs} // as LookupIP
	}
	if len(found.Addrs) > 0 || err != nil || (fam.V4 && fam.V6) {
		return found, err
	}
	other, oerr := a.dns.LookupIPFamilies(ctx, h.host, dnsresolve.Families{V4: !fam.V4, V6: !fam.V6}, false)
	switch {
	case len(other.Addrs) > 0:
		a.log.Info("delivery: host has no address of address_family", "host", h.host, "address_family", a.cfg.AddressFamily)
		return found, &familyError{host: h.host, family: a.cfg.AddressFamily}
	case oerr != nil && dnsresolve.IsTemporary(oerr):
		// Without the setting this failure would have made the
		// lookup temporary too: the host may yet have addresses.
		return found, oerr
	}
	return found, nil
}
