package smtpd

import (
	"net/netip"
	"strings"
	"time"
)

// ReceivedTrace is what a Received header records.
type ReceivedTrace struct {
	Helo   string
	Client netip.Addr
	// ClientName is the client's verified host name, "" when unknown.
	ClientName string
	Host       string // our hostname
	TLS        bool
	// TLSCipher is the session's cipher suite, written as RFC 8314 §4.3's
	// "tls" clause; "" writes none.
	TLSCipher string
	Auth      bool
	SMTPUTF8  bool
	HELO      bool // the client greeted with HELO: plain SMTP (RFC 3848)
	ID        string
	For       string // the one recipient, or "" when there are several
	Date      time.Time
	// HideClient leaves the from clause out (the listener's received =
	// "hide-client", for an authenticated session): the field starts
	// at "by".
	HideClient bool
	// AuthUser is the authenticated user to name in an "(Authenticated
	// sender: USER)" comment (the listener's received_auth_user); ""
	// writes none.
	AuthUser string
}

// ReceivedHeader renders the trace header Sluice prepends (RFC 5321 §4.4),
// folded at its clauses with CRLF and a tab (RFC 5322 §2.2.3):
//
//	Received: from HELO (NAME [IP])
//		(Authenticated sender: USER)
//		by HOST (Sluice) with ESMTPSA id ID
//		for <RCPT>; DATE
//
// The TCP-info is the client's verified name and its address literal, as
// Postfix writes it; the address literal alone when the name is unknown.
// With HideClient there is no from clause, "Received: by HOST (Sluice)
// with ESMTPSA id ID": RFC 5322 §3.6.7 makes every clause optional, and
// Postfix's pickup ("by HOST (Postfix, from userid N)") and Gmail's
// submission servers write the field so too.
// The AuthUser comment, on a line of its own, is where Postfix's
// smtpd_sasl_authenticated_header puts it, between the from and by
// clauses (RFC 5321 §4.4 allows CFWS before "by"); without a from clause
// it follows "by HOST (Sluice)", where pickup writes its "from userid".
// The listener writes it on every message it receives; sluice replay
// writes it too, to show a message as it would be queued.
func ReceivedHeader(t ReceivedTrace) []byte {
	var b strings.Builder
	comment := ""
	if t.AuthUser != "" {
		comment = authSenderComment(t.AuthUser, t.SMTPUTF8) + "\r\n\t"
	}
	if t.HideClient {
		b.WriteString("Received: by ")
	} else {
		b.WriteString("Received: from ")
		b.WriteString(heloToken(t.Helo))
		b.WriteString(" (")
		if t.ClientName != "" {
			b.WriteString(t.ClientName)
			b.WriteString(" ")
		}
		b.WriteString(addressLiteral(t.Client))
		b.WriteString(")\r\n\t")
		b.WriteString(comment)
		b.WriteString("by ")
	}
	b.WriteString(t.Host)
	b.WriteString(" (Sluice)")
	if t.HideClient && comment != "" {
		b.WriteString("\r\n\t")
		b.WriteString(comment)
	} else {
		b.WriteString(" ")
	}
	b.WriteString("with ")
	b.WriteString(protocol(t))
	b.WriteString(" id ")
	b.WriteString(t.ID)
	if t.For != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(t.For)
		b.WriteString(">")
	}
	if t.TLSCipher != "" {
		// RFC 8314 §4.3: the cipher suite, by its IANA name, as an
		// additional registered clause after "for" (RFC 5321 §4.4).
		b.WriteString("\r\n\ttls ")
		b.WriteString(t.TLSCipher)
	}
	if t.For != "" || t.TLSCipher != "" {
		b.WriteString("; ")
	} else {
		b.WriteString(";\r\n\t")
	}
	b.WriteString(t.Date.Format(time.RFC1123Z)) // RFC 5322 §3.3 date-time
	b.WriteString("\r\n")
	return []byte(b.String())
}

// protocol is the "with" keyword: SMTP after HELO; after EHLO, ESMTP plus
// S for TLS and A for AUTH (RFC 3848), UTF8SMTP when SMTPUTF8 was used (RFC
// 6531 §3.7.3). TLS, AUTH and SMTPUTF8 all need EHLO.
func protocol(t ReceivedTrace) string {
	if t.HELO {
		return "SMTP"
	}
	p := "ESMTP"
	if t.SMTPUTF8 {
		p = "UTF8SMTP"
	}
	if t.TLS {
		p += "S"
	}
	if t.Auth {
		p += "A"
	}
	return p
}

// addressLiteral writes an IP as RFC 5321 §4.1.3 does.
func addressLiteral(ip netip.Addr) string {
	if ip.Is6() {
		return "[IPv6:" + ip.String() + "]"
	}
	return "[" + ip.String() + "]"
}

// heloToken keeps the client's HELO name from breaking the header: control
// characters, spaces, the comment and clause delimiters, and anything not
// ASCII (the field must stay 7-bit in a message that may not be SMTPUTF8;
// a byte that is not UTF-8 would otherwise turn into U+FFFD) become "?".
// An empty name is written as "unknown".
func heloToken(h string) string {
	if h == "" {
		return "unknown"
	}
	b := []byte(h)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("();\\", c) >= 0 {
			b[i] = '?'
		}
	}
	return string(b)
}
