package milter

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/internal/tlscipher"
	"github.com/sluice-mta/sluice/sdk"
)

// The macros are those Postfix sends by default (postconf(5),
// milter_connect_macros, milter_helo_macros, milter_mail_macros,
// milter_rcpt_macros, milter_data_macros, milter_end_of_header_macros,
// milter_end_of_data_macros), plus the client macros of MILTER_README's
// table, derived from the session. Empty values are not sent.

// connectMacros: j {daemon_name} {daemon_addr} v _ and the client's.
func connectMacros(o *Options, s *sdk.Session) []string {
	name := clientName(s)
	port := ""
	if s.ClientPort > 0 {
		port = strconv.Itoa(s.ClientPort)
	}
	return []string{
		"j", o.Hostname,
		"{daemon_name}", o.daemonName(s.Listener),
		"{daemon_addr}", s.LocalIP,
		"v", "Sluice",
		"_", fmt.Sprintf("%s [%s]", name, s.ClientIP),
		"{client_addr}", s.ClientIP,
		"{client_name}", name,
		"{client_ptr}", name,
		"{client_port}", port,
		"{if_addr}", s.LocalIP,
	}
}

// daemonName is {daemon_name} for a session of listener: its
// milter_daemon_name when it has one (Postfix's milter_macro_daemon_name,
// set per service in master.cf), else the listener's name.
func (o *Options) daemonName(listener string) string {
	if n, ok := o.DaemonNames[listener]; ok {
		return n
	}
	if listener == "" {
		return "sluice"
	}
	return listener
}

// heloMacros: {tls_version} {cipher} {cipher_bits}, the cipher by its
// OpenSSL name as Postfix gives it ({cert_subject} and {cert_issuer}
// are not known here: Sluice asks for no client certificate).
func heloMacros(s *sdk.Session) []string {
	bits := ""
	if s.TLSCipherBits > 0 {
		bits = strconv.Itoa(s.TLSCipherBits)
	}
	return []string{
		"{tls_version}", s.TLSVersion,
		"{cipher}", tlscipher.OpenSSLName(s.TLSCipher),
		"{cipher_bits}", bits,
	}
}

// mailMacros: i {auth_type} {auth_authen} {auth_author} {mail_addr}; i
// once the queue ID is known. {mail_addr} of the null sender is sent,
// empty, as Postfix sends it (smtpd_milter.c: "" for MAIL FROM:<>, as
// Sendmail does not externalize the null address), so a milter can tell
// a bounce from a step without the macro.
func mailMacros(t *sdk.Txn) []string {
	addr := t.Envelope.MailFrom
	if addr == "" {
		addr = emptyMacro
	}
	return []string{
		"i", t.Envelope.QueueID,
		"{auth_type}", t.Session.AuthMech,
		"{auth_authen}", t.Session.AuthUser,
		"{auth_author}", authAuthor(t.Envelope.MailParams),
		"{mail_addr}", addr,
	}
}

// emptyMacro is the value of a macro that is defined and empty: sent as
// "", where an empty value in a macro list means undefined, not sent. A
// NUL is no value a milter can be sent (each is a C string).
const emptyMacro = "\x00"

// authAuthor is {auth_author}: MAIL's AUTH= as xtext, as Postfix's smtpd
// gives it; the core's encoding of the mailbox the client named, which is
// the client's own text but for needless quotes and escapes. Nothing for
// AUTH=<> (RFC 4954 §5), which the core gives a client that has not
// authenticated.
func authAuthor(params map[string]string) string {
	if a := params["AUTH"]; a != "<>" {
		return a
	}
	return ""
}

// rcptMacros: i {rcpt_addr}.
func rcptMacros(t *sdk.Txn, r sdk.Recipient) []string {
	return []string{"i", t.Envelope.QueueID, "{rcpt_addr}", r.Addr}
}

// symStage maps a step's command to its SMFIM_* macro stage, the key of
// a milter's macro lists (smfi_setsymlist).
var symStage = map[milter.Code]uint32{
	milter.CodeConn: 0, // SMFIM_CONNECT
	milter.CodeHelo: 1, // SMFIM_HELO
	milter.CodeMail: 2, // SMFIM_ENVFROM
	milter.CodeRcpt: 3, // SMFIM_ENVRCPT
	milter.CodeData: 4, // SMFIM_DATA
	milter.CodeEOB:  5, // SMFIM_EOM
	milter.CodeEOH:  6, // SMFIM_EOH
}

// knownMacros is every macro known at a step: the session's, and the
// transaction's and the recipient's when there are some.
func knownMacros(o *Options, s *sdk.Session, t *sdk.Txn, r *sdk.Recipient) []string {
	if t != nil {
		s = &t.Session
	}
	kv := append(connectMacros(o, s), heloMacros(s)...)
	if t != nil {
		kv = append(kv, mailMacros(t)...)
		if r != nil {
			kv = append(kv, rcptMacros(t, *r)...)
		}
	}
	return kv
}

// pickMacros returns the macros of kv named in list (names separated by
// spaces or commas, with or without braces: "{client_addr}" or
// "client_addr"), in kv's order; a name given twice in kv is taken once.
func pickMacros(list string, kv []string) []string {
	want := map[string]bool{}
	for _, n := range strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		want[strings.Trim(n, "{}")] = true
	}
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		n := strings.Trim(kv[i], "{}")
		if want[n] {
			out = append(out, kv[i], kv[i+1])
			delete(want, n)
		}
	}
	return out
}

// clientName is the client's host name, "unknown" when it has none, as
// Postfix names it.
func clientName(s *sdk.Session) string {
	if s.ClientName != "" {
		return s.ClientName
	}
	return "unknown"
}

// connectInfo is SMFIC_CONNECT's data: host name, family, port, address.
// A client without a name is named by its address in brackets, the
// Sendmail form Postfix sends too (milter8.c, milter8_conn_event:
// "Transform unknown hostname from Postfix to Sendmail form").
func connectInfo(s *sdk.Session) (string, milter.ProtoFamily, uint16, string) {
	ip := net.ParseIP(s.ClientIP)
	name := s.ClientName
	if name == "" && ip != nil {
		name = "[" + ip.String() + "]"
	}
	switch {
	case ip == nil:
		return clientName(s), milter.FamilyUnknown, 0, ""
	case ip.To4() != nil:
		return name, milter.FamilyInet, uint16(s.ClientPort), ip.String()
	default:
		return name, milter.FamilyInet6, uint16(s.ClientPort), ip.String()
	}
}
