package main

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// pfValidHostname is util/valid_hostname.c's valid_hostname, ported as
// it reads, for the tests: letters, digits, "_" and "-", labels of 63 at
// most between single dots, no "-" at a label's ends, not all digits, 255
// at most. C's isalnum in the C locale: ASCII only.
func pfValidHostname(name string) bool {
	if name == "" {
		return false
	}
	labelLen, nonNumeric := 0, false
	for i := 0; i < len(name); i++ {
		ch := name[i]
		next := byte(0)
		if i+1 < len(name) {
			next = name[i+1]
		}
		switch {
		case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_':
			labelLen++
			if labelLen > 63 {
				return false
			}
			if ch < '0' || ch > '9' {
				nonNumeric = true
			}
		case ch == '.':
			if labelLen == 0 || next == 0 {
				return false
			}
			labelLen = 0
		case ch == '-':
			nonNumeric = true
			labelLen++
			if labelLen == 1 || next == 0 || next == '.' {
				return false
			}
		default:
			return false
		}
	}
	return nonNumeric && len(name) <= 255
}

// pfValidIPv4 is valid_ipv4_hostaddr.
func pfValidIPv4(addr string) bool {
	inByte, count, val := false, 0, 0
	for i := 0; i < len(addr); i++ {
		ch := addr[i]
		switch {
		case ch >= '0' && ch <= '9':
			if !inByte {
				inByte, val = true, 0
				count++
			}
			val = val*10 + int(ch-'0')
			if val > 255 {
				return false
			}
		case ch == '.':
			if !inByte || i+1 == len(addr) {
				return false
			}
			// XXX Allow 0.0.0.0 but not 0.1.2.3: addr[strspn(addr, "0.")].
			if count == 1 && val == 0 && strings.TrimLeft(addr, "0.") != "" {
				return false
			}
			inByte = false
		default:
			return false
		}
	}
	return count == 4
}

// pfValidIPv6 is valid_ipv6_hostaddr, its pointer walk kept.
func pfValidIPv6(addr string) bool {
	nullField, field, n, cp := 0, 0, 0, 0
	at := func(i int) byte {
		if i < len(addr) {
			return addr[i]
		}
		return 0
	}
	isHex := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	isAlnum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for {
		switch at(cp) {
		case 0:
			if field < 2 {
				return false
			}
			return !(n == 0 && nullField != field-1)
		case '.':
			if field < 2 || field > 6 {
				return false
			}
			return pfValidIPv4(addr[cp-n:])
		case ':':
			if field == 0 && n == 0 && isAlnum(at(cp+1)) {
				return false
			}
			field++
			if field > 7 {
				return false
			}
			cp++
			n = 0
			if at(cp) == ':' {
				if nullField > 0 {
					return false
				}
				nullField = field
			}
		default:
			n = 0
			for isHex(at(cp + n)) {
				n++
			}
			if n > 4 || n == 0 {
				return false
			}
			cp += n
		}
	}
}

// pfDupIfTruncate drops one trailing dot, not two.
func pfDupIfTruncate(name string) string {
	if len(name) > 1 && name[len(name)-1] == '.' && name[len(name)-2] != '.' {
		return name[:len(name)-1]
	}
	return name
}

// pfInvalidHostaddr is reject_invalid_hostaddr's test of a "[" name:
// valid_mailhost_addr of what is inside the brackets.
func pfInvalidHostaddr(name string) bool {
	addr := name
	if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
		addr = name[1 : len(name)-1]
	}
	if len(addr) >= 5 && strings.EqualFold(addr[:5], "IPv6:") {
		return !pfValidIPv6(addr[5:])
	}
	return !pfValidIPv4(addr)
}

// pfPostfixHelo is what Postfix says of a HELO name: whether it is an
// address literal (the "invalid ip address" reply), and whether
// reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname refuse it.
func pfPostfixHelo(name string) (literal, invalid, notFQDN bool) {
	if strings.HasPrefix(name, "[") {
		bad := pfInvalidHostaddr(name)
		return true, bad, bad
	}
	t := pfDupIfTruncate(name)
	valid := pfValidHostname(t)
	hostaddr := false
	if strings.Contains(t, ":") {
		hostaddr = pfValidIPv6(t)
	} else {
		hostaddr = pfValidIPv4(t)
	}
	return false, !valid && !hostaddr, !valid || !strings.Contains(t, ".")
}

// pfLongOctet reports a name the invalid-name pattern refuses where
// Postfix does not: a dotted quad number of 64 characters or more.
func pfLongOctet(name string) bool {
	return regexp.MustCompile(`(?:^|[.:])[0-9]{64}`).MatchString(name)
}

func pfCheckHelo(t *testing.T, name string, lit, name1, name2 *regexp.Regexp) {
	t.Helper()
	literal, invalid, notFQDN := pfPostfixHelo(name)
	gotLit := lit.MatchString(name)
	if gotLit != (literal && invalid) {
		t.Errorf("literal %q: pattern %v, Postfix %v", name, gotLit, literal && invalid)
	}
	if got := name1.MatchString(name); got != (!literal && invalid) && !pfLongOctet(name) {
		t.Errorf("invalid name %q: pattern %v, Postfix %v", name, got, !literal && invalid)
	}
	if got := name2.MatchString(name); got != (!literal && notFQDN) {
		t.Errorf("non-FQDN name %q: pattern %v, Postfix %v", name, got, !literal && notFQDN)
	}
}

// The HELO patterns refuse what Postfix's checks refuse, and nothing
// else: every name of up to three characters over an alphabet that holds
// each kind of character the checks tell apart, and mutations of valid
// names, addresses and literals. The one difference is a dotted quad
// number written with 64 characters or more (pfLongOctet).
func TestHeloPatternsArePostfix(t *testing.T) {
	lit := regexp.MustCompile(pfHeloLiteralInvalid)
	invalid := regexp.MustCompile(pfHeloNameInvalid)
	notFQDN := regexp.MustCompile(pfHeloNameNotFQDN)
	for _, n := range []string{
		"mail.example.com", "mail.example.com.", "mail.example.com..", "localhost", "localhost.", "a_b.example", "-a.example",
		"a-.example", "a.-b", "1.2.3.4", "1.2.3.4.", "0.0.0.0", "0.1.2.3", "00.0.0.0", "256.1.1.1", "0001.2.3.4", "1.2.3",
		"2001:db8::1", "2001:db8::1.", "::", "::1", "1::", ":1::", "1:2:3", "1:2", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
		"::ffff:1.2.3.4", "::ffff:1.2.3.4.", "::ffff:1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "::a.1.2.3",
		"::0.0.0.1", "::300.1.2.3", "::12345", "1::2::3", ":::", "[1.2.3.4]", "[1.2.3.4", "[]", "[", "[IPv6:2001:db8::1]",
		"[ipv6:::1]", "[IPv6:::ffff:1.2.3.4]", "[IPv6:1.2.3.4]", "[IPv6:]", "[IPv6::]", "[IPv6:1:]", "[IPv6]", "[0.0.0.0]",
		"[0.0.0.1]", "[1.2.3.4.]", "[1.2..4]", "[1.2.3.4.5]", "[x.y]", "[IPv6:::0.0.0.0]", "[IPv6:::0.1.2.3]",
		"héllo.example", "a\xffb.example", strings.Repeat("a", 63) + ".example", strings.Repeat("a", 64) + ".example",
		"a." + strings.Repeat("b", 64), strings.Repeat("1", 64) + "a.example", "a" + strings.Repeat("1", 63),
		"a" + strings.Repeat("1", 63) + ".b", strings.Repeat("1", 64), strings.Repeat("-", 64) + "a",
	} {
		pfCheckHelo(t, n, lit, invalid, notFQDN)
	}
	alphabet := []byte("a1025f:.-[]I_x")
	var walk func(prefix []byte)
	walk = func(prefix []byte) {
		if len(prefix) > 0 {
			pfCheckHelo(t, string(prefix), lit, invalid, notFQDN)
		}
		if len(prefix) == 3 {
			return
		}
		for _, c := range alphabet {
			walk(append(prefix, c))
		}
	}
	walk(nil)
	// Inside brackets, and after "IPv6:", every string of up to four
	// characters that the address checks tell apart.
	var inner func(prefix []byte)
	inner = func(prefix []byte) {
		for _, wrap := range []string{"[%s]", "[IPv6:%s]", "::%s", "%s."} {
			pfCheckHelo(t, strings.Replace(wrap, "%s", string(prefix), 1), lit, invalid, notFQDN)
		}
		if len(prefix) == 4 {
			return
		}
		for _, c := range []byte("029a:.") {
			inner(append(prefix, c))
		}
	}
	inner(nil)
	seeds := []string{"mail.example.com", "1.2.3.4", "0.0.0.0", "2001:db8::1", "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:1.2.3.4", "[192.0.2.1]", "[IPv6:2001:db8::1]", "[IPv6:::ffff:192.0.2.1]", "[IPv6:1:2:3:4:5:6:7:8]",
		"a-b_c.example.", "255.255.255.255", "[255.0.0.255]"}
	mutations := []byte("a1029fF:.-[]I_x6vP ")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8000 {
		b := []byte(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b) + 1)
			c := mutations[rng.IntN(len(mutations))]
			switch rng.IntN(3) {
			case 0:
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			case 1:
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			default:
				if i < len(b) {
					b[i] = c
				}
			}
		}
		if len(b) > 0 && !strings.Contains(string(b), " ") {
			pfCheckHelo(t, string(b), lit, invalid, notFQDN)
		}
	}
}

// pfPostfixAddrNotFQDN is reject_non_fqdn_address: the domain after the
// last "@" ("" without one); an address literal passes.
func pfPostfixAddrNotFQDN(addr string) bool {
	domain := ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		domain = addr[i+1:]
	}
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		return false
	}
	d := pfDupIfTruncate(domain)
	if d != "" && !isASCIIString(d) {
		// An SMTPUTF8 client's domain: its A-label form is checked.
		return !strings.Contains(d, ".")
	}
	return d == "" || !pfValidHostname(d) || !strings.Contains(d, ".")
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// The address pattern refuses what reject_non_fqdn_sender and
// reject_non_fqdn_recipient refuse of every address Sluice lets reach a
// stage (core/envelope.ValidDomain's domains).
func TestAddressPatternIsPostfix(t *testing.T) {
	re := regexp.MustCompile(pfAddressNotFQDN)
	domains := []string{"example.com", "localhost", "a", "1.2.3.4", "123", "1.2", "a1.2", "x-y.example", "[192.0.2.1]",
		"[IPv6:2001:db8::1]", "exämple.com", "exämple", strings.Repeat("a", 63) + ".b", "0.0.0.0", "a.1"}
	alphabet := []byte("a1.-")
	var walk func(prefix []byte)
	walk = func(prefix []byte) {
		if len(prefix) > 0 {
			domains = append(domains, string(prefix))
		}
		if len(prefix) == 5 {
			return
		}
		for _, c := range alphabet {
			walk(append(prefix, c))
		}
	}
	walk(nil)
	checked := 0
	for _, d := range domains {
		if !envelope.ValidDomain(d) {
			continue
		}
		checked++
		addr := "alice@" + d
		if got, want := re.MatchString(addr), pfPostfixAddrNotFQDN(addr); got != want {
			t.Errorf("%q: pattern %v, Postfix %v", addr, got, want)
		}
	}
	if re.MatchString("") {
		t.Error("the null sender matches")
	}
	if checked < 100 {
		t.Fatalf("only %d domains checked", checked)
	}
}
