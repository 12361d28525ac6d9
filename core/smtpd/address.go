package smtpd

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// Address errors; errNeedUTF8 is a well-formed address that needs SMTPUTF8.
var (
	errNeedUTF8     = errors.New("non-ASCII address without SMTPUTF8")
	errLocalPart    = errors.New("bad local part")
	errDomain       = errors.New("bad domain")
	errAddressShape = errors.New("address must be local-part@domain")
)

// tooLong is an address over one of the length limits of RFC 5321
// §4.5.3.1.1-3, which the client is told of by name (badAddress).
type tooLong struct{ limit, section string }

func (e *tooLong) Error() string { return e.limit }

// The limits, in octets of the wire form: a quoted local part counts its
// quotes and backslashes, as the next hop will count them.
var (
	errLocalTooLong  = &tooLong{"local part over 64 octets", "4.5.3.1.1"}
	errDomainTooLong = &tooLong{"domain over 255 octets", "4.5.3.1.2"}
	errPathTooLong   = &tooLong{"path over 256 octets", "4.5.3.1.3"}
)

// Limits of RFC 5321 §4.5.3.1; maxPath counts the path's angle brackets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256
)

// badAddress is base (reply.BadSender or reply.BadAddress) for addr,
// which parseMailbox refused with err. An address over a length limit is
// answered "501 Path too long" (RFC 5321 §4.5.3.1.10) naming the limit,
// rather than as a syntax error the client cannot see in it.
func badAddress(base reply.Reply, err error, addr string) *reply.Reply {
	var tl *tooLong
	if errors.As(err, &tl) {
		base.Text = "Path too long: " + tl.limit + " (RFC 5321 section " + tl.section + ")"
	}
	return base.With(err.Error() + ": " + addr)
}

// mailbox is an envelope address split at its "@".
type mailbox struct {
	Local  string // without the quotes of a quoted-string
	Domain string // a host name or an address literal in brackets
}

// parseMailbox checks an address as go-smtp hands it over (its local part
// unquoted, its domain unchecked) against RFC 5321 §4.1.2 and the sizes of
// §4.5.3.1.1-3. Non-ASCII is allowed with SMTPUTF8 only (RFC 6531 §3.3).
func parseMailbox(s string, smtputf8 bool) (mailbox, error) {
	// go-smtp gives <"b@c"@d> and <b@c@d> the same form, so which "@" ends
	// the local part is unknown. A quoted "@" is legal but only ever useful
	// for routing tricks (Postfix resolves it "safely instead of
	// correctly"): refuse both.
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return mailbox{}, errAddressShape
	}
	mb := mailbox{Local: s[:at], Domain: s[at+1:]}
	if !utf8.ValidString(mb.Local) {
		return mailbox{}, errLocalPart
	}
	for _, r := range mb.Local {
		if r < ' ' || r == 0x7f {
			return mailbox{}, errLocalPart
		}
	}
	if len(mb.Domain) > maxDomain {
		return mailbox{}, errDomainTooLong
	}
	if !envelope.ValidDomain(mb.Domain) {
		return mailbox{}, errDomain
	}
	switch wire := len(mb.String()); {
	case wire-len(mb.Domain)-1 > maxLocalPart:
		return mailbox{}, errLocalTooLong
	case wire+2 > maxPath:
		return mailbox{}, errPathTooLong
	}
	if !smtputf8 && !envelope.IsASCII(s) {
		return mailbox{}, errNeedUTF8
	}
	return mb, nil
}

// String renders the mailbox as it goes on the wire: the local part is
// quoted again when it is not a dot-string (RFC 5321 §4.1.2).
func (m mailbox) String() string {
	if isDotString(m.Local) {
		return m.Local + "@" + m.Domain
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(m.Local); i++ {
		if c := m.Local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(m.Local[i])
	}
	b.WriteString(`"@`)
	b.WriteString(m.Domain)
	return b.String()
}

// addressLiteralIP returns the IP of an address-literal domain ([192.0.2.1],
// [IPv6:2001:db8::1]); ok is false for a host name.
func addressLiteralIP(d string) (ip netip.Addr, ok bool) {
	if !strings.HasPrefix(d, "[") || !strings.HasSuffix(d, "]") {
		return netip.Addr{}, false
	}
	lit := d[1 : len(d)-1]
	if v6, ok := cutPrefixFold(lit, "IPv6:"); ok {
		lit = v6
	}
	a, err := netip.ParseAddr(lit)
	if err != nil {
		return netip.Addr{}, true // not ours, whatever it is
	}
	return a.Unmap(), true
}

// isDotString reports whether s is atoms joined by single dots (RFC 5321
// §4.1.2 Dot-string; non-ASCII counts as atext under RFC 6531 §3.3).
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r == '.' || r >= 0x80 || r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			continue
		}
		return false
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
