package smtpd

import (
	"net/netip"

	"github.com/sluice-mta/sluice/core/config"
)

// prefixes is a listener's network list (proxy_protocol, xclient_hosts,
// greet_pause_skip) as the netip prefixes netlist.Contains takes; nil for
// an empty list.
func prefixes(list []config.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range list {
		out = append(out, n.Prefix)
	}
	return out
}
