package smtpd

// saslMechanisms are the SASL mechanisms in use that Sluice may be asked
// for (IANA's "SASL Mechanisms" registry, RFC 4422 §3.1), so that a
// refusal of one can name it in the log.
var saslMechanisms = map[string]bool{
	"ANONYMOUS": true, "CRAM-MD5": true, "DIGEST-MD5": true, "EXTERNAL": true,
	"GSSAPI": true, "GS2-KRB5": true, "KERBEROS_V4": true, "NTLM": true,
	"OAUTHBEARER": true, "XOAUTH2": true, "OTP": true, "SKEY": true,
	"SCRAM-SHA-1": true, "SCRAM-SHA-1-PLUS": true, "SCRAM-SHA-256": true, "SCRAM-SHA-256-PLUS": true,
}

// mechanismReason is the log's reason for refusing mech. Any other name
// is left out: a client that sends AUTH with its credentials and no
// mechanism ("AUTH dXNlcjpwYXNz") has them taken for the mechanism's name,
// and base64 is as valid a name as CRAM-MD5 by RFC 4422's syntax.
func mechanismReason(mech string) string {
	if saslMechanisms[mech] {
		return "mechanism " + mech
	}
	return "mechanism not a known SASL one"
}
