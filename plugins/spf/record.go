package spf

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// kind is a mechanism's name (RFC 7208 §5).
type kind string

const (
	mechAll     kind = "all"
	mechInclude kind = "include"
	mechA       kind = "a"
	mechMX      kind = "mx"
	mechPTR     kind = "ptr"
	mechIP4     kind = "ip4"
	mechIP6     kind = "ip6"
	mechExists  kind = "exists"
)

// mechanism is one parsed directive: qualifier, mechanism, argument.
type mechanism struct {
	term   string // as written, for Received-SPF mechanism=
	result Result // what a match yields: the qualifier (RFC 7208 §4.6.2)
	kind   kind
	domain *macroString // domain-spec; nil means the current domain
	prefix netip.Prefix // ip4, ip6
	cidr4  int          // a, mx: ip4-cidr-length (32 when absent)
	cidr6  int          // a, mx: ip6-cidr-length (128 when absent)
}

// record is a parsed SPF record (RFC 7208 §4.6, §12 ABNF).
type record struct {
	mechs    []mechanism
	redirect *macroString
	exp      *macroString
}

// isSPFRecord reports whether a TXT string is an SPF version 1 record:
// "v=spf1" (case-insensitive, RFC 7208 §4.5) then a space or the end.
func isSPFRecord(s string) bool {
	return len(s) >= 6 && strings.EqualFold(s[:6], "v=spf1") && (len(s) == 6 || s[6] == ' ')
}

// modifierName is the ABNF name of RFC 7208 §12.
var modifierName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.]*$`)

// dualCIDR splits a trailing [ip4-cidr][ip6-cidr] from an a/mx argument.
// Lengths have no leading zeros (RFC 7208 §12).
var dualCIDR = regexp.MustCompile(`^(.*?)(?:/(0|[1-9][0-9]*))?(?://(0|[1-9][0-9]*))?$`)

// prefixLen is an ip4/ip6 CIDR length: no leading zeros (RFC 7208 §12).
var prefixLen = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// qualifiers maps a qualifier to the result a match yields (RFC 7208 §4.6.2).
var qualifiers = map[byte]Result{'+': Pass, '-': Fail, '~': Softfail, '?': Neutral}

// parseRecord parses a whole record before anything is evaluated: a
// syntax error anywhere is a permerror even when an earlier mechanism would
// have matched (RFC 7208 §4.6).
func parseRecord(txt string) (*record, error) {
	for i := 0; i < len(txt); i++ {
		// Terms are printable US-ASCII separated by spaces (RFC 7208 §12);
		// a control or 8-bit byte is a syntax error, not a separator.
		if txt[i] < 0x20 || txt[i] > 0x7e {
			return nil, permErr("invalid byte 0x%02x in record", txt[i])
		}
	}
	rec := &record{}
	for _, term := range strings.Split(txt[6:], " ") {
		if term == "" {
			continue
		}
		if i := strings.IndexByte(term, '='); i > 0 && modifierName.MatchString(term[:i]) {
			if err := rec.addModifier(term[:i], term[i+1:]); err != nil {
				return nil, err
			}
			continue
		}
		m, err := parseMechanism(term)
		if err != nil {
			return nil, err
		}
		rec.mechs = append(rec.mechs, m)
	}
	return rec, nil
}

// addModifier records redirect= and exp= (each at most once, RFC 7208
// §6) and checks an unknown modifier's macro-string (§6: ignored, but its
// syntax must be valid).
func (r *record) addModifier(name, value string) error {
	switch strings.ToLower(name) {
	case "redirect", "exp":
		ms, err := parseDomainSpec(value)
		if err != nil {
			return permErr("%s=%s: %v", name, value, err)
		}
		slot := &r.redirect
		if strings.EqualFold(name, "exp") {
			slot = &r.exp
		}
		if *slot != nil {
			return permErr("%s= given twice", strings.ToLower(name))
		}
		*slot = ms
	default:
		if _, err := parseMacroString(value, true); err != nil {
			return permErr("modifier %s: %v", name, err)
		}
	}
	return nil
}

// parseMechanism parses [qualifier] mechanism (RFC 7208 §4.6.1, §5).
func parseMechanism(term string) (mechanism, error) {
	m := mechanism{term: term, result: Pass, cidr4: 32, cidr6: 128}
	rest := term
	if q, ok := qualifiers[rest[0]]; ok {
		m.result = q
		rest = rest[1:]
	}
	end := strings.IndexAny(rest, ":/")
	if end < 0 {
		end = len(rest)
	}
	m.kind = kind(strings.ToLower(rest[:end]))
	arg := rest[end:]
	bad := func(why string) (mechanism, error) {
		return mechanism{}, permErr("%q: %s", term, why)
	}
	var err error
	switch m.kind {
	case mechAll:
		if arg != "" {
			return bad("all takes no argument")
		}
	case mechInclude, mechExists:
		if !strings.HasPrefix(arg, ":") {
			return bad("a domain is required")
		}
		if m.domain, err = parseDomainSpec(arg[1:]); err != nil {
			return bad(err.Error())
		}
	case mechPTR:
		if arg == "" {
			break
		}
		if !strings.HasPrefix(arg, ":") {
			return bad("ptr takes no CIDR length")
		}
		if m.domain, err = parseDomainSpec(arg[1:]); err != nil {
			return bad(err.Error())
		}
	case mechA, mechMX:
		sm := dualCIDR.FindStringSubmatch(arg)
		spec := sm[1]
		if spec != "" {
			if !strings.HasPrefix(spec, ":") {
				return bad("unexpected " + spec)
			}
			if m.domain, err = parseDomainSpec(spec[1:]); err != nil {
				return bad(err.Error())
			}
		}
		if m.cidr4, err = cidrLen(sm[2], 32); err != nil {
			return bad(err.Error())
		}
		if m.cidr6, err = cidrLen(sm[3], 128); err != nil {
			return bad(err.Error())
		}
	case mechIP4, mechIP6:
		if !strings.HasPrefix(arg, ":") {
			return bad("an address is required")
		}
		addr, length, hasLen := strings.Cut(arg[1:], "/")
		ip, perr := netip.ParseAddr(addr)
		if perr != nil || ip.Zone() != "" || (m.kind == mechIP4) != ip.Is4() {
			return bad("invalid address " + addr)
		}
		bits := ip.BitLen()
		if hasLen {
			if !prefixLen.MatchString(length) {
				return bad("invalid prefix length")
			}
			if bits, err = cidrLen(length, ip.BitLen()); err != nil {
				return bad(err.Error())
			}
		}
		m.prefix = netip.PrefixFrom(ip, bits).Masked()
	default:
		return bad("unknown mechanism")
	}
	return m, nil
}

// cidrLen parses a prefix length no larger than max; "" means max.
func cidrLen(s string, max int) (int, error) {
	if s == "" {
		return max, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("prefix length %s out of range 0-%d", s, max)
	}
	return n, nil
}

// parseDomainSpec parses a domain-spec: a macro-string ending in "."
// toplabel ["."] or in a macro-expand (RFC 7208 §7.1, §12). The letters
// c, r and t are for explanations only.
func parseDomainSpec(s string) (*macroString, error) {
	if s == "" {
		return nil, fmt.Errorf("empty domain")
	}
	ms, err := parseMacroString(s, false)
	if err != nil {
		return nil, err
	}
	if ms.endsWithMacro() {
		return ms, nil
	}
	tail := strings.TrimSuffix(ms.literalTail(), ".")
	dot := strings.LastIndexByte(tail, '.')
	if dot < 0 || !isTopLabel(tail[dot+1:]) {
		return nil, fmt.Errorf("%q does not end in a valid top label", s)
	}
	return ms, nil
}

// isTopLabel: ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum
// / "-" ) alphanum ) — RFC 7208 §12; a top label is never all-numeric, so
// an IP address is no domain.
func isTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			alpha = true
		case '0' <= c && c <= '9':
		case c == '-':
			hyphen = true
		default:
			return false
		}
	}
	if hyphen {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}
