package route

import (
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// localDomains returns local_domains as the core tells them in
// EnvLocalDomains, folded, and whether it told them: a stage run outside
// Sluice (a test harness) is not told.
func localDomains() (map[string]bool, bool) {
	list, told := os.LookupEnv(EnvLocalDomains)
	local := map[string]bool{}
	for _, d := range strings.Split(list, ",") {
		if d != "" {
			local[dnsresolve.Fold(d)] = true
		}
	}
	return local, told
}

// stripsDetail reports whether strip_detail removes addr's detail: only
// at local_domains, whose mailboxes it names. An address at another
// domain (a relay client's recipient, an alias's target, the sender an
// SRS bounce goes back to) goes as it is: its local part is for its own
// domain to interpret (RFC 5321 §2.4), and "jean-pierre@" is not
// "jean@" there. Not told local_domains, every address.
func (p *Plugin) stripsDetail(addr string) bool {
	return p.strip && (!p.localTold || p.local[dnsresolve.Fold(domainOf(addr))])
}
