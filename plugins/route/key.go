package route

import (
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// domainKey is a domain as the rules compare it: lowercased, without the
// trailing dot of an absolute name (RFC 1034 §3.1: "example.org." and
// "example.org" are one domain) and with its internationalized labels as
// A-labels (RFC 5890 §2.3.2.1), so that a rule written "bücher.example"
// matches a recipient an SMTPUTF8 client wrote in U-labels as well as one
// an ASCII client wrote "xn--bcher-kva.example", and the other way round.
func domainKey(d string) string {
	return dnsresolve.ASCII(strings.TrimSuffix(strings.ToLower(d), "."))
}

// addrKey is an address as the rules, recipients lists and aliases
// compare it: lowercased, its domain as domainKey has it. "@domain" (an
// alias catch-all) keeps its form.
func addrKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	return strings.ToLower(addr[:at]) + "@" + domainKey(addr[at+1:])
}
