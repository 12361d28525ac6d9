package spf

import (
	"fmt"
	"net/netip"
	"strings"
)

// receivedSPF renders a Received-SPF field value (RFC 7208 §9.1):
// result, comment, then key-value pairs.
func receivedSPF(c check, ip netip.Addr, helo, receiver string) string {
	who := c.id.sender
	if c.id.name == "helo" {
		who = c.id.domain
	}
	var comment string
	switch c.out.Result {
	case Pass:
		comment = fmt.Sprintf("domain of %s designates %s as permitted sender", who, ip)
	case Fail:
		comment = fmt.Sprintf("domain of %s does not designate %s as permitted sender", who, ip)
	case Softfail:
		comment = fmt.Sprintf("domain of transitioning %s does not designate %s as permitted sender", who, ip)
	case Neutral:
		comment = fmt.Sprintf("%s is neither permitted nor denied by domain of %s", ip, who)
	case None:
		comment = fmt.Sprintf("domain of %s does not designate permitted sender hosts", who)
	case TempError:
		comment = fmt.Sprintf("error in processing during lookup of %s", who)
	case PermError:
		comment = fmt.Sprintf("permanent error in processing domain of %s", who)
	}
	if receiver != "" {
		comment = receiver + ": " + comment
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", c.out.Result, commentText(comment))
	kv := func(k, v string) { fmt.Fprintf(&b, " %s=%s;", k, kvValue(v)) }
	kv("client-ip", ip.String())
	if c.id.name == "mailfrom" {
		kv("envelope-from", c.id.sender)
	}
	if helo != "" {
		kv("helo", helo)
	}
	if receiver != "" {
		kv("receiver", receiver)
	}
	kv("identity", c.id.name)
	if c.out.Mechanism != "" {
		kv("mechanism", c.out.Mechanism)
	}
	if c.out.Problem != "" && (c.out.Result == PermError || c.out.Result == TempError) {
		kv("problem", safeText(c.out.Problem))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// commentText makes s safe inside an RFC 5322 comment: printable ASCII,
// parentheses and backslashes quoted.
func commentText(s string) string {
	s = safeText(s)
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	return r.Replace(s)
}

// kvValue is a dot-atom when s is one, else a quoted-string (RFC 5322
// §3.2.3, §3.2.4).
func kvValue(s string) string {
	s = safeText(s)
	if isDotAtom(s) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}
