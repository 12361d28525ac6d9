package policy

import (
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/internal/tlscipher"
	"github.com/sluice-mta/sluice/sdk"
)

// The protocol states Postfix's smtpd sends, one a hook
// (SMTPD_POLICY_README: CONNECT, EHLO, HELO, MAIL, RCPT, DATA,
// END-OF-MESSAGE, VRFY, ETRN). A plugin is not told whether the client
// said HELO or EHLO: every HELO is sent as EHLO, which nearly every
// client says.
const (
	stateConnect = "CONNECT"
	stateHelo    = "EHLO"
	stateMail    = "MAIL"
	stateRcpt    = "RCPT"
	stateData    = "DATA"
	stateEOM     = "END-OF-MESSAGE"
)

// query is one request's own part: the state, the recipient asked about
// at RCPT, the message's size at END-OF-MESSAGE (before it, the size
// MAIL's SIZE= announced is sent).
type query struct {
	state string
	rcpt  string
	size  int64
}

// encode writes the request for q in t, in the order Postfix's
// check_policy_service sends its attributes (smtpd_check.c), then the
// empty line that ends it. What Sluice does not know is sent empty, or
// 0 for a number, as Postfix sends what it does not know: the client's
// unverified PTR name (reverse_client_name is the verified one, or
// "unknown"), client certificates, ETRN, stress, and Postfix's
// compatibility_level and mail_version.
func (p *Plugin) encode(t *sdk.Txn, q query) []byte {
	s := &t.Session
	name := s.ClientName
	if name == "" {
		name = "unknown" // Postfix's name for a client without one
	}
	rcpt, count := q.rcpt, 0
	if q.state == stateData || q.state == stateEOM {
		// Postfix names the recipient there only when there is one
		// (SMTPD_POLICY_README), and counts them only there.
		count = len(t.Envelope.Rcpts)
		if count == 1 {
			rcpt = t.Envelope.Rcpts[0].Addr
		}
	}
	var b strings.Builder
	b.Grow(640)
	attr := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(clean(v))
		b.WriteByte('\n')
	}
	attr("request", "smtpd_access_policy")
	attr("protocol_state", q.state)
	attr("protocol_name", "ESMTP")
	attr("client_address", s.ClientIP)
	attr("client_name", name)
	attr("client_port", strconv.Itoa(s.ClientPort))
	attr("reverse_client_name", name)
	attr("server_address", s.LocalIP)
	attr("server_port", strconv.Itoa(s.LocalPort))
	attr("helo_name", s.Helo)
	attr("sender", t.Envelope.MailFrom)
	attr("recipient", rcpt)
	attr("recipient_count", strconv.Itoa(count))
	attr("queue_id", t.Envelope.QueueID)
	attr("instance", instance(s))
	attr("size", size(t, q))
	attr("etrn_domain", "")
	attr("stress", "")
	attr("sasl_method", s.AuthMech)
	attr("sasl_username", s.AuthUser)
	attr("sasl_sender", saslSender(t))
	attr("ccert_subject", "")
	attr("ccert_issuer", "")
	attr("ccert_fingerprint", "")
	attr("ccert_pubkey_fingerprint", "")
	if s.TLS {
		// The cipher by its OpenSSL name and its key size, as Postfix
		// logs them ("TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384
		// (256/256 bits)").
		attr("encryption_protocol", s.TLSVersion)
		attr("encryption_cipher", tlscipher.OpenSSLName(s.TLSCipher))
		attr("encryption_keysize", strconv.Itoa(s.TLSCipherBits))
	} else {
		attr("encryption_protocol", "")
		attr("encryption_cipher", "")
		attr("encryption_keysize", "0")
	}
	attr("policy_context", p.set.policyContext)
	attr("compatibility_level", "")
	attr("mail_version", "")
	b.WriteByte('\n')
	return []byte(b.String())
}

// size is the size attribute: the message's at END-OF-MESSAGE, before
// it the size MAIL's SIZE= announced (RFC 1870), as Postfix sends its
// msg_size; 0 without one, and before MAIL.
func size(t *sdk.Txn, q query) string {
	if q.state == stateEOM {
		return strconv.FormatInt(q.size, 10)
	}
	if v := t.Envelope.MailParams["SIZE"]; pfaccess.AllDigits(v) {
		return v
	}
	return "0"
}

// saslSender is the sasl_sender attribute: MAIL's AUTH= as xtext, as
// Postfix's smtpd keeps it; the core's encoding of the mailbox the client
// named, which is the client's own text but for needless quotes and
// escapes. Empty for AUTH=<>, which the core also gives for a client that
// has not authenticated (RFC 4954 §5).
func saslSender(t *sdk.Txn) string {
	if a := t.Envelope.MailParams["AUTH"]; a != "<>" {
		return a
	}
	return ""
}

// instance is the same for every request about one message, and another
// for the next (SMTPD_POLICY_README: a server correlates requests by
// it): the session and the number of its transaction.
func instance(s *sdk.Session) string {
	return s.ID + "." + strconv.Itoa(s.Transaction)
}

// clean keeps a value on its line: a line break would end the attribute
// (and an empty line the request) where the client chose, and a NUL may
// not be in a value (SMTPD_POLICY_README); the other control characters
// are no part of anything Postfix sends. Each becomes "?".
func clean(v string) string {
	if strings.IndexFunc(v, control) < 0 {
		return v
	}
	return strings.Map(func(r rune) rune {
		if control(r) {
			return '?'
		}
		return r
	}, v)
}

func control(r rune) bool { return r < 0x20 || r == 0x7f }
