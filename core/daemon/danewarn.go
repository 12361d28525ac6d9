package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/plugins/route"
)

// resolvConfPath is where the resolver finds its servers when [dns]
// servers is empty (dnsresolve.New).
const resolvConfPath = "/etc/resolv.conf"

// daneResolverWarnings warns when DANE is on ([delivery] dane, or a
// relay's, fallback relay's or route rule's tls=dane or dane-only) and
// a DNS server it asks is not on loopback. Sluice checks no signature
// itself and trusts its resolver's AD bit, as Postfix does; a stub
// resolver may trust AD only from a validating resolver it trusts over a
// channel it trusts (RFC 4035 §4.9.3), which Postfix's TLS_README makes
// a resolver on the same host: the AD bit of a server across a network
// can be forged on the way. The answer is still trusted, as Postfix
// trusts it (maddy ignores it instead): without DANE the mail goes with
// opportunistic TLS, which a forger who can set AD can redirect anyway
// by forging its MX or address records, while an attacker on the path
// to the MX host alone is still stopped by DANE; ignoring it would
// protect no one and turn DANE off for sites whose validating resolver
// sits on a trusted network. A warning, said by check-config
// and at start and each reload (configWarnings), as the others about
// what is valid but probably not meant.
func daneResolverWarnings(c *config.Config) []string {
	return daneResolverWarningsWith(c, resolvConfPath)
}

// daneResolverWarningsWith is daneResolverWarnings reading resolvConf
// when [dns] servers is empty.
func daneResolverWarningsWith(c *config.Config, resolvConf string) []string {
	uses := daneUses(c)
	if len(uses) == 0 {
		return nil
	}
	servers, from := c.DNS.Servers, "[dns] servers"
	if len(servers) == 0 {
		servers, from = resolvConfServers(resolvConf), resolvConf
	}
	remote := notLoopback(servers)
	if len(remote) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("DANE is on (%s) and trusts the AD bit of DNS servers not on loopback: %s (%s), "+
		"whose answers can be forged on the way; run a validating resolver on this host (unbound on 127.0.0.1) "+
		"and name it alone in [dns] servers, as Postfix's DANE needs",
		strings.Join(uses, ", "), strings.Join(remote, ", "), from)}
}

// daneUses names where c turns DANE on: [delivery] dane, and each
// relay, fallback relay or route stage rule whose transport asks for
// tls=dane or dane-only. A route set by another plugin at run time is
// not known here.
func daneUses(c *config.Config) []string {
	var out []string
	if c.Delivery.DANE {
		out = append(out, "[delivery] dane")
	}
	wants := func(spec string) bool {
		rt, err := delivery.ParseRoute(spec)
		return err == nil && (rt.TLS == delivery.TLSDANE || rt.TLS == delivery.TLSDANEOnly)
	}
	if config.RelayIsRoute(c.Delivery.Relay) && wants(c.Delivery.Relay) {
		out = append(out, "relay")
	}
	for _, s := range c.Delivery.FallbackRelay {
		if config.RelayIsRoute(s) && wants(s) {
			out = append(out, "fallback_relay")
			break
		}
	}
	for _, s := range c.Stages {
		if s.Plugin != "route" {
			continue
		}
		js, err := json.Marshal(s.Config)
		if err != nil {
			continue
		}
		var rc route.Config
		if json.Unmarshal(js, &rc) != nil {
			continue // the plugin refuses it itself
		}
		for _, r := range rc.Rules {
			if wants(r.Transport) {
				out = append(out, "stage "+s.Name)
				break
			}
		}
	}
	return out
}

// notLoopback lists the servers (host:port, or a bare address as
// resolv.conf writes it) that are not on loopback: an address outside
// 127.0.0.0/8 and ::1, or a name other than localhost (RFC 6761 §6.3),
// which may resolve anywhere.
func notLoopback(servers []string) []string {
	var out []string
	for _, s := range servers {
		host := s
		if h, _, err := net.SplitHostPort(s); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Unmap().IsLoopback() {
				continue
			}
		} else if n := strings.ToLower(strings.TrimSuffix(host, ".")); n == "localhost" || strings.HasSuffix(n, ".localhost") {
			continue
		}
		out = append(out, s)
	}
	return out
}

// resolvConfServers reads path's nameserver lines (resolv.conf(5)); an
// unreadable file has none (the resolver's own start says why).
func resolvConfServers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, fields[1])
		}
	}
	return out
}
