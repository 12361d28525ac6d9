package dnsresolve

import (
	"strings"

	"golang.org/x/net/idna"
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
	if isASCII(name) {
		return name
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		if a, err := idna.Lookup.ToASCII(l); err == nil {
			labels[i] = a
		}
	}
	return strings.Join(labels, ".")
}

// ALabels returns domain with each label that is not ASCII as its A-label,
// as ASCII does, but fails when one does not convert (a disallowed code
// point, a bidi rule broken, RFC 5891 §5): a name sent on the wire in
// place of the original must be the same domain, not a guess at it.
func ALabels(domain string) (string, error) {
	if isASCII(domain) {
		return domain, nil
	}
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil {
			return "", err
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
