package milter

import (
	"fmt"
	"net"
	"strconv"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/sdk"
)

// The macros are those Postfix sends by default (postconf(5),
// milter_connect_macros, milter_helo_macros, milter_mail_macros,
// milter_rcpt_macros, milter_data_macros, milter_end_of_header_macros,
// milter_end_of_data_macros), plus the client macros of MILTER_README's
// table, derived from the session. Empty values are not sent.

// connectMacros: j {daemon_name} {daemon_addr} v _ and the client's.
func connectMacros(hostname string, s *sdk.Session) []string {
	name := clientName(s)
	daemon := s.Listener
	if daemon == "" {
		daemon = "sluice"
	}
	port := ""
	if s.ClientPort > 0 {
		port = strconv.Itoa(s.ClientPort)
	}
	return []string{
		"j", hostname,
		"{daemon_name}", daemon,
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

// heloMacros: {tls_version} (the cipher macros are not known here).
func heloMacros(s *sdk.Session) []string {
	return []string{"{tls_version}", s.TLSVersion}
}

// mailMacros: i {auth_type} {auth_authen} {mail_addr}; i once the queue
// ID is known.
func mailMacros(t *sdk.Txn) []string {
	return []string{
		"i", t.Envelope.QueueID,
		"{auth_type}", t.Session.AuthMech,
		"{auth_authen}", t.Session.AuthUser,
		"{mail_addr}", t.Envelope.MailFrom,
	}
}

// rcptMacros: i {rcpt_addr}.
func rcptMacros(t *sdk.Txn, r sdk.Recipient) []string {
	return []string{"i", t.Envelope.QueueID, "{rcpt_addr}", r.Addr}
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
func connectInfo(s *sdk.Session) (string, milter.ProtoFamily, uint16, string) {
	ip := net.ParseIP(s.ClientIP)
	switch {
	case ip == nil:
		return clientName(s), milter.FamilyUnknown, 0, ""
	case ip.To4() != nil:
		return clientName(s), milter.FamilyInet, uint16(s.ClientPort), ip.String()
	default:
		return clientName(s), milter.FamilyInet6, uint16(s.ClientPort), ip.String()
	}
}
