package route

import (
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Rules compare domains as dnsresolve.Fold has them (lowercased, without
// a trailing dot, A-labels), so that a rule written "bücher.example"
// matches a recipient an SMTPUTF8 client wrote in U-labels as well as one
// an ASCII client wrote "xn--bcher-kva.example", and the other way round.

// addrKey is an address as the rules, recipients lists and aliases
// compare it: lowercased, its domain folded. "@domain" (an
// alias catch-all) keeps its form.
func addrKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	return strings.ToLower(addr[:at]) + "@" + dnsresolve.Fold(addr[at+1:])
}
