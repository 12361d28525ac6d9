package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// dnsList is one zone of a dnsbl or rhsbl key: "zen.spamhaus.org", or
// with Postfix's answer filter "zen.spamhaus.org=127.0.0.[2..11]", which
// counts only the answers it matches as a listing.
type dnsList struct {
	zone  string // lowercased, no trailing dot
	codes *answerFilter
}

// String is the list as written in the config, normalised.
func (l dnsList) String() string {
	if l.codes == nil {
		return l.zone
	}
	return l.zone + "=" + l.codes.spec
}

// listing returns the first of the list's answers that counts as a
// listing under its filter.
func (l dnsList) listing(answers []netip.Addr) (netip.Addr, bool) {
	for _, a := range answers {
		if l.codes == nil || l.codes.match(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// answerFilter is Postfix's d.d.d.d answer pattern (postconf(5),
// reject_rbl_client): each octet a number, or a bracketed list of numbers
// and n..m ranges separated by ";", as in 127.0.0.[2;4..7].
type answerFilter struct {
	spec   string
	octets [4][256]bool
}

func (f *answerFilter) match(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	for i, b := range a.As4() {
		if !f.octets[i][b] {
			return false
		}
	}
	return true
}

// parseAnswerFilter parses the part of a zone after its "=".
func parseAnswerFilter(spec string) (*answerFilter, error) {
	f := &answerFilter{spec: spec}
	rest := spec
	for i := 0; i < 4; i++ {
		var octet string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("answer filter %q: no ] after [", spec)
			}
			octet, rest = rest[:end+1], rest[end+1:]
		} else {
			end := strings.IndexByte(rest, '.')
			if end < 0 {
				end = len(rest)
			}
			octet, rest = rest[:end], rest[end:]
		}
		if i < 3 {
			var ok bool
			if rest, ok = strings.CutPrefix(rest, "."); !ok {
				return nil, fmt.Errorf("answer filter %q: want four octets, as 127.0.0.2 or 127.0.0.[2..11]", spec)
			}
		}
		if err := f.setOctet(i, octet); err != nil {
			return nil, fmt.Errorf("answer filter %q: %v", spec, err)
		}
	}
	if rest != "" {
		return nil, fmt.Errorf("answer filter %q: want four octets, as 127.0.0.2 or 127.0.0.[2..11]", spec)
	}
	return f, nil
}

// setOctet sets what octet i matches: "2", or "[2;4..7]".
func (f *answerFilter) setOctet(i int, s string) error {
	items := []string{s}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		items = strings.Split(strings.TrimSuffix(inner, "]"), ";")
	}
	for _, item := range items {
		lo, hi, isRange := strings.Cut(item, "..")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 8)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 8)
		if err1 != nil || err2 != nil || a > b {
			return fmt.Errorf("bad octet %q (want 0-255, or [n..m;k])", s)
		}
		for v := a; v <= b; v++ {
			f.octets[i][v] = true
		}
	}
	return nil
}

// zones parses the zones of a dnsbl or rhsbl key. A zone is a domain
// name: a key that is none, as a Postfix-style "zone=127.0.0.2" was
// before filters were read, would be asked of DNS as it stands, answer
// NXDOMAIN for everyone and list no one, without a word.
func zones(in []string) ([]dnsList, error) {
	var out []dnsList
	for _, spec := range in {
		z, filter, hasFilter := strings.Cut(strings.TrimSpace(spec), "=")
		z = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(z), "."))
		if !isZoneName(z) {
			return nil, fmt.Errorf("bad zone %q (want a domain name, optionally =127.0.0.2 or =127.0.0.[2..11] to count only those answers)", spec)
		}
		l := dnsList{zone: z}
		if hasFilter {
			f, err := parseAnswerFilter(strings.TrimSpace(filter))
			if err != nil {
				return nil, fmt.Errorf("zone %q: %v", z, err)
			}
			l.codes = f
		}
		out = append(out, l)
	}
	return out, nil
}

// isZoneName reports whether z is a DNS name of labels of letters,
// digits, "-" and "_" (RFC 1035 §2.3.1, with the underscore lists such
// as _dnsbl.example use), each 1 to 63 octets.
func isZoneName(z string) bool {
	if z == "" || len(z) > 253 {
		return false
	}
	for label := range strings.SplitSeq(z, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
