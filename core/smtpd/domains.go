package smtpd

import (
	"net/netip"

	"github.com/sluice-mta/sluice/core/config"
)

// The settings that say what mail is ours and who may relay,
// local_domains and relay_networks, are the server's domains: a reload
// replaces them in the running server (SetDomains), and every check reads
// the current ones, so that a domain added to local_domains is accepted at
// once and a network taken out of relay_networks stops relaying at the
// next RCPT, in sessions already open too. (Postfix's reload lets each
// running smtpd finish its session on the old settings.)

// domainsOf is the part of c that domains holds: a Config, so that
// IsLocalDomain compares names exactly as everywhere else.
func domainsOf(c *config.Config) *config.Config {
	return &config.Config{
		LocalDomains:  append([]string(nil), c.LocalDomains...),
		RelayNetworks: append([]config.Prefix(nil), c.RelayNetworks...),
	}
}

// SetDomains makes c's local_domains and relay_networks the running
// server's, for a config reload.
func (s *Server) SetDomains(c *config.Config) {
	s.domains.Store(domainsOf(c))
}

// isLocal reports whether domain is one of local_domains.
func (s *Server) isLocal(domain string) bool {
	return s.domains.Load().IsLocalDomain(domain)
}

// mayRelay reports whether ip is in relay_networks.
func (s *Server) mayRelay(ip netip.Addr) bool {
	return s.domains.Load().InRelayNetworks(ip)
}

// postmasterDomain is the domain of the postmaster RCPT TO:<Postmaster>
// reaches: the first local domain, else our hostname.
func (s *Server) postmasterDomain() string {
	if d := s.domains.Load().LocalDomains; len(d) > 0 {
		return d[0]
	}
	return s.cfg.Hostname
}

// ownLiteral reports whether domain is an address literal of the address
// the client connected to ([192.0.2.1] on a connection to 192.0.2.1).
func ownLiteral(info *SessionInfo, domain string) bool {
	lit, ok := addressLiteralIP(domain)
	return ok && info.Local.IsValid() && lit == info.Local.Addr()
}

// localLiteral returns mb with an address literal of our own address
// replaced by the domain RCPT TO:<Postmaster> reaches, and mb's parse
// again (the new domain may lengthen the path past its limit). The
// literal names this host (RFC 5321 §4.1.3), as Postfix resolves it to
// local delivery; kept as it is, delivery would send the message to the
// literal's address, this listener, which took it again, until max_hops
// refused it and the sender got a bounce.
func (s *Server) localLiteral(info *SessionInfo, mb mailbox, utf8 bool) (mailbox, error) {
	if !ownLiteral(info, mb.Domain) {
		return mb, nil
	}
	return parseMailbox(mb.Local+"@"+s.postmasterDomain(), utf8)
}
