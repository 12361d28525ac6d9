package envelope

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ValidDomain accepts the domain of an envelope address: a host name of
// letter-digit-hyphen labels (UTF-8 labels too, RFC 6531 §3.3) or an IPv4
// or IPv6 address literal (RFC 5321 §4.1.3). The listener checks a
// client's addresses with it, the pipeline a stage's envelope edits, the
// command line the addresses it is given.
func ValidDomain(d string) bool {
	if strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") {
		lit := d[1 : len(d)-1]
		if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") {
			a, err := netip.ParseAddr(lit[5:])
			return err == nil && a.Is6() && a.Zone() == ""
		}
		a, err := netip.ParseAddr(lit)
		return err == nil && a.Is4()
	}
	if d == "" || len(d) > 255 || !utf8.ValidString(d) {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			ok := r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				r >= 0x80 && r != utf8.RuneError
			if !ok {
				return false
			}
		}
	}
	return true
}
