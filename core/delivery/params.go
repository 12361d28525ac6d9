package delivery

import (
	"bytes"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The MAIL and RCPT parameters forwarded to the next hop. go-smtp sends
// each only when the server advertises its extension (SIZE, DSN, SMTPUTF8),
// and adds BODY=8BITMIME whenever the server offers 8BITMIME (RFC 6152
// allows declaring it for any body). Values go-smtp would refuse to encode
// are dropped rather than failing the transaction.

// dsnReturn maps RET= (RFC 3461 §4.3).
func dsnReturn(s string) smtp.DSNReturn {
	switch strings.ToUpper(s) {
	case "FULL":
		return smtp.DSNReturnFull
	case "HDRS":
		return smtp.DSNReturnHeaders
	}
	return ""
}

// envID keeps ENVID= (RFC 3461 §4.4) when it is printable ASCII.
func envID(s string) string {
	if !printableASCII(s) {
		return ""
	}
	return s
}

// rcptOptions maps NOTIFY= and ORCPT= (RFC 3461 §4.1, §4.2). ORcpt is
// "addr-type;address" or a bare address.
func rcptOptions(r *envelope.Recipient) *smtp.RcptOptions {
	o := &smtp.RcptOptions{}
	seen := map[smtp.DSNNotify]bool{}
	for _, n := range r.Notify {
		v := smtp.DSNNotify(strings.ToUpper(strings.TrimSpace(n)))
		switch v {
		case smtp.DSNNotifyNever, smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure, smtp.DSNNotifySuccess:
			if !seen[v] {
				seen[v] = true
				o.Notify = append(o.Notify, v)
			}
		}
	}
	if seen[smtp.DSNNotifyNever] && len(seen) > 1 {
		o.Notify = nil // NEVER must stand alone (RFC 3461 §4.1)
	}
	typ, addr := smtp.DSNAddressTypeRFC822, r.ORcpt
	if t, a, ok := strings.Cut(r.ORcpt, ";"); ok {
		typ, addr = smtp.DSNAddressType(strings.ToUpper(t)), a
	}
	switch {
	case addr == "":
	case typ == smtp.DSNAddressTypeRFC822 && printableASCII(addr):
		o.OriginalRecipientType, o.OriginalRecipient = typ, addr
	case typ == smtp.DSNAddressTypeUTF8 || (typ == smtp.DSNAddressTypeRFC822 && !strings.Contains(r.ORcpt, ";")):
		o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeUTF8, addr
	}
	return o
}

// headerASCII reports whether the header section of msg (up to its first
// empty line) is all ASCII.
func headerASCII(msg []byte) bool {
	end := len(msg)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		end = i
	}
	return ascii(msg[:end])
}

// ascii reports whether s holds no octet above 0x7f.
func ascii[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
