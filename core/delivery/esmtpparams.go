package delivery

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The DSN parameters (RFC 3461 §4) as pipeline stages see them: an
// sdk.Recipient's Params and an sdk.Envelope's MailParams map an ESMTP
// keyword to its value as written in the MAIL or RCPT command, so ORCPT=
// and ENVID= are in xtext there, as milters send and expect them. The
// queue keeps the decoded values (envelope.Recipient.ORcpt, DSNEnvID).
// These functions convert between the two and refuse what the listener
// would have refused from a client.

// The ESMTP keywords of RFC 3461 §4.
const (
	ParamNotify = "NOTIFY"
	ParamORcpt  = "ORCPT"
	ParamRet    = "RET"
	ParamEnvID  = "ENVID"
)

// ParamAuth is MAIL's AUTH= (RFC 4954 §5), the submitter of the message.
const ParamAuth = "AUTH"

// Limits of RFC 3461 §4.2 (ORCPT, the whole value) and §4.4 (ENVID).
const (
	maxORcptLen = 500
	maxEnvIDLen = 100
)

// RcptParams returns r's NOTIFY= and ORCPT= as ESMTP parameters, nil when
// it has neither.
func RcptParams(r *envelope.Recipient) map[string]string {
	var p map[string]string
	if len(r.Notify) > 0 {
		p = map[string]string{ParamNotify: strings.Join(r.Notify, ",")}
	}
	if r.ORcpt != "" {
		if p == nil {
			p = map[string]string{}
		}
		typ, addr, ok := strings.Cut(r.ORcpt, ";")
		if !ok {
			typ, addr = addrType(r.ORcpt), r.ORcpt
		}
		p[ParamORcpt] = typedXtext(typ, addr)
	}
	return p
}

// OriginalRecipient is the ORCPT= value that names addr (RFC 3461 §4.2):
// "rfc822;" and addr as xtext, or "utf-8;" and addr as utf-8-addr-xtext
// for an internationalized address (RFC 6533 §3).
func OriginalRecipient(addr string) string {
	return typedXtext(addrType(addr), addr)
}

// ParseRcptParams reads NOTIFY= and ORCPT= from ESMTP parameters (keywords
// in any case) into the queue's form: NOTIFY's keywords upper case, ORCPT
// as "TYPE;address" decoded. Absent parameters give zero values; a
// malformed one is an error naming it.
func ParseRcptParams(p map[string]string) (notify []string, orcpt string, err error) {
	var errs []error
	if v, ok := param(p, ParamNotify); ok {
		if notify, err = parseNotify(v); err != nil {
			errs = append(errs, err)
		}
	}
	if v, ok := param(p, ParamORcpt); ok {
		if orcpt, err = parseORcpt(v); err != nil {
			errs = append(errs, err)
		}
	}
	return notify, orcpt, errors.Join(errs...)
}

// MailParams returns RET= and ENVID= as ESMTP parameters, nil when both
// are empty.
func MailParams(ret, envID string) map[string]string {
	if ret == "" && envID == "" {
		return nil
	}
	p := map[string]string{}
	if ret != "" {
		p[ParamRet] = ret
	}
	if envID != "" {
		p[ParamEnvID] = encodeXtext(envID)
	}
	return p
}

// AuthParam is AUTH='s value for mailbox as a MAIL command carries it
// (RFC 4954 §5): the mailbox as xtext, "<>" for "".
func AuthParam(mailbox string) string {
	if mailbox == "" {
		return "<>"
	}
	return encodeXtext(mailbox)
}

// ParseMailParams reads RET= (FULL or HDRS, RFC 3461 §4.3) and ENVID=
// (xtext, decoded; §4.4) from ESMTP parameters, as ParseRcptParams does.
func ParseMailParams(p map[string]string) (ret, envID string, err error) {
	var errs []error
	if v, ok := param(p, ParamRet); ok {
		switch ret = strings.ToUpper(v); ret {
		case "FULL", "HDRS":
		default:
			ret = ""
			errs = append(errs, fmt.Errorf("RET=%q: want FULL or HDRS", v))
		}
	}
	if v, ok := param(p, ParamEnvID); ok {
		id, err := decodeXtext(v)
		switch {
		case err != nil || id == "":
			errs = append(errs, fmt.Errorf("ENVID=%q: not xtext", v))
		case len(id) > maxEnvIDLen || !printableASCII(id):
			errs = append(errs, fmt.Errorf("ENVID=%q: want up to %d printable ASCII characters", v, maxEnvIDLen))
		default:
			envID = id
		}
	}
	return ret, envID, errors.Join(errs...)
}

// param looks keyword up in p whatever the case of p's keys (ESMTP
// keywords are case-insensitive, RFC 5321 §2.4).
func param(p map[string]string, keyword string) (string, bool) {
	if v, ok := p[keyword]; ok {
		return v, true
	}
	for k, v := range p {
		if strings.EqualFold(k, keyword) {
			return v, true
		}
	}
	return "", false
}

// parseNotify reads "NEVER" or a list of SUCCESS, FAILURE and DELAY
// (RFC 3461 §4.1).
func parseNotify(v string) ([]string, error) {
	var out []string
	never := false
	for _, f := range strings.Split(v, ",") {
		k := strings.ToUpper(strings.TrimSpace(f))
		switch k {
		case "NEVER":
			never = true
		case "SUCCESS", "FAILURE", "DELAY":
		default:
			return nil, fmt.Errorf("NOTIFY=%q: %q is not NEVER, SUCCESS, FAILURE or DELAY", v, f)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if never && len(out) > 1 {
		return nil, fmt.Errorf("NOTIFY=%q: NEVER must stand alone", v)
	}
	return out, nil
}

// parseORcpt reads "addr-type;xtext" (RFC 3461 §4.2) for the address
// types the listener takes: rfc822, and utf-8 (RFC 6533 §3).
func parseORcpt(v string) (string, error) {
	typ, enc, ok := strings.Cut(v, ";")
	if !ok || enc == "" || len(v) > maxORcptLen {
		return "", fmt.Errorf("ORCPT=%q: want addr-type;address, at most %d characters", v, maxORcptLen)
	}
	var addr string
	var err error
	switch typ = strings.ToUpper(typ); typ {
	case "RFC822":
		addr, err = decodeXtext(enc)
		if err == nil && !printableASCII(addr) {
			// Postfix writes a UTF-8 address as "rfc822;" and the xtext
			// of its octets: it is the utf-8 address type (RFC 6533 §3),
			// as the listener takes it too.
			if utf8Address(addr) {
				typ = "UTF-8"
			} else {
				err = errXtext
			}
		}
	case "UTF-8":
		addr, err = decodeUTF8AddrXtext(enc)
	default:
		return "", fmt.Errorf("ORCPT=%q: address type %q is not rfc822 or utf-8", v, typ)
	}
	if err != nil {
		return "", fmt.Errorf("ORCPT=%q: %v", v, err)
	}
	return typ + ";" + addr, nil
}

// utf8Address reports whether addr is valid UTF-8 with no control
// character (C0, DEL, C1) and no space.
func utf8Address(addr string) bool {
	if !utf8.ValidString(addr) {
		return false
	}
	for _, r := range addr {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return false
		}
	}
	return true
}

// addrType is the ORCPT address type for addr (RFC 6533 §3).
func addrType(addr string) string {
	if ascii(addr) {
		return "rfc822"
	}
	return "utf-8"
}

// typedXtext encodes addr for address type typ.
func typedXtext(typ, addr string) string {
	if strings.EqualFold(typ, "utf-8") {
		return typ + ";" + encodeUTF8AddrXtext(addr)
	}
	return typ + ";" + encodeXtext(addr)
}

// isQChar reports whether c stands for itself in utf-8-addr-xtext: printable
// ASCII but "+", "=" and "\" (RFC 6533 §3, QCHAR).
func isQChar(c rune) bool {
	return c >= '!' && c <= '~' && c != '+' && c != '=' && c != '\\'
}

// encodeUTF8AddrXtext writes every character that is not a QCHAR as
// \x{HEXPOINT} (RFC 6533 §3).
func encodeUTF8AddrXtext(s string) string {
	var sb strings.Builder
	for _, c := range s {
		if isQChar(c) {
			sb.WriteRune(c)
		} else {
			fmt.Fprintf(&sb, `\x{%X}`, c)
		}
	}
	return sb.String()
}

// decodeUTF8AddrXtext decodes utf-8-addr-xtext, and utf-8-addr-unitext
// (UTF-8 characters as they are) as a liberal receiver.
func decodeUTF8AddrXtext(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errXtext
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == '\\':
			rest := s[i:]
			end := strings.IndexByte(rest, '}')
			if !strings.HasPrefix(rest, `\x{`) || end < 4 || end > 9 {
				return "", errXtext
			}
			v, err := strconv.ParseUint(rest[3:end], 16, 32)
			if err != nil || !utf8.ValidRune(rune(v)) || v == 0 {
				return "", errXtext
			}
			sb.WriteRune(rune(v))
			i += end + 1
			continue
		case isQChar(c) || c >= utf8.RuneSelf:
			sb.WriteRune(c)
		default:
			return "", errXtext
		}
		i += n
	}
	return sb.String(), nil
}
