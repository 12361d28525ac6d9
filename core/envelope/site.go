package envelope

import (
	"strings"

	"golang.org/x/net/idna"
)

// Site is the domain of addr as delivery groups recipients by it: what
// follows the last "@" (the local part may hold one, RFC 5321 §4.1.2),
// as SiteDomain folds it. An address without "@" is its own site. The
// queue's shape and a flush of one domain count and select by it.
func Site(addr string) string {
	d := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		d = addr[i+1:]
	}
	return SiteDomain(d)
}

// SiteDomain folds domain d to the one spelling of its site: lower-cased
// (domains compare case-insensitively, RFC 5321 §2.4), without a trailing
// dot, and each internationalized label as its A-label (RFC 5890
// §2.3.2.1, with the UTS #46 lookup mapping), since a recipient may spell
// one domain in UTF-8 (SMTPUTF8, RFC 6531 §3.2) or in ASCII and DNS knows
// only the latter: "Bücher.example" and "xn--bcher-kva.example" are one
// site. A label that does not convert is kept, lower-cased.
func SiteDomain(d string) string {
	d = strings.TrimSuffix(d, ".")
	if !IsASCII(d) {
		labels := strings.Split(d, ".")
		for i, l := range labels {
			if IsASCII(l) {
				continue
			}
			if a, err := idna.Lookup.ToASCII(l); err == nil {
				labels[i] = a
			}
		}
		d = strings.Join(labels, ".")
	}
	return strings.ToLower(d)
}

// FoldAddress is addr in the one spelling the per-sender limits count it
// by: lower-cased, its domain (what follows the last "@") as SiteDomain
// spells it, so that "Alerts@Bücher.example" and
// "alerts@xn--bcher-kva.example" are one sender. A string without "@" is
// lower-cased.
func FoldAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	return strings.ToLower(addr[:at+1]) + SiteDomain(addr[at+1:])
}

// IsASCII reports whether s is all US-ASCII: an address or a message
// that needs no SMTPUTF8 (RFC 6531) when sent.
func IsASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// AllASCII reports whether every one of ss is all US-ASCII.
func AllASCII(ss []string) bool {
	for _, s := range ss {
		if !IsASCII(s) {
			return false
		}
	}
	return true
}
