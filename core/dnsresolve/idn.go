package dnsresolve

import (
	"strings"

	"golang.org/x/net/idna"

	"github.com/sluice-mta/sluice/core/envelope"
)

// ASCII returns name as DNS holds it. A label with non-ASCII characters
// (an internationalized domain, as a message received with SMTPUTF8 may
// carry, RFC 6531 §3.2) becomes its A-label, "xn--" and Punycode (RFC 5890
// §2.3.2.1, with the UTS #46 lookup mapping that also lowercases it): zones
// hold only those, so asking for the UTF-8 octets finds nothing and would
// make a real domain look nonexistent. ASCII labels are left alone, so
// "_mta-sts" and other names outside host-name syntax still work; a label
// that does not convert is kept as given and is then simply not found.
func ASCII(name string) string {
	a, _ := aLabels(name, false)
	return a
}

// Fold returns domain as two names are compared: lowercased (RFC 4343),
// without the trailing dot of an absolute name (RFC 1034 §3.1:
// "example.org." is "example.org") and with its internationalized labels
// as A-labels, so that "bücher.example" and "xn--bcher-kva.example" are
// one domain.
func Fold(domain string) string {
	return strings.TrimSuffix(strings.ToLower(ASCII(domain)), ".")
}

// ALabels returns domain with each label that is not ASCII as its A-label,
// as ASCII does, but fails when one does not convert (a disallowed code
// point, a bidi rule broken, RFC 5891 §5): a name sent on the wire in
// place of the original must be the same domain, not a guess at it.
func ALabels(domain string) (string, error) { return aLabels(domain, true) }

// aLabels converts each label of name that is not ASCII to its A-label; a
// label that does not convert fails the whole when strict, else is kept.
func aLabels(name string, strict bool) (string, error) {
	if envelope.IsASCII(name) {
		return name, nil
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if envelope.IsASCII(l) {
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		switch {
		case err == nil:
			labels[i] = a
		case strict:
			return "", err
		}
	}
	return strings.Join(labels, "."), nil
}
