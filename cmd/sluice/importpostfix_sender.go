package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// senderRoutes carries sender_dependent_default_transport_maps and
// sender_dependent_relayhost_maps (hash-style tables) as route rules with
// a sender: match = "*", sender = the key's address or domain ("<>" for
// the null sender's key), transport the table's next hop. Postfix asks
// them only for recipients no transport_maps entry, relay_domains or
// local class routes, the first over the second; the route stage takes
// the first matching rule, so they go after the rules of transport_maps
// and the mailbox domains (matchRank puts "*" last), before the "*" rule
// of smtp_tls_security_level, and address keys before domain keys, as
// Postfix looks up the address first. A transport_maps "*" entry takes
// every recipient in Postfix as in Sluice: they are then listed instead.
func (im *importer) senderRoutes(route *pfRoute) error {
	p := im.p
	var rules []pfRule
	for _, m := range []struct{ param, emptyKey string }{
		{"sender_dependent_default_transport_maps", "empty_address_default_transport_maps_lookup_key"},
		{"sender_dependent_relayhost_maps", "empty_address_relayhost_maps_lookup_key"},
	} {
		if !p.set(m.param) {
			continue
		}
		specs := pfList(p.take(m.param))
		if route.hasAll {
			im.note(m.param, "transport_maps' * rule takes every recipient, before any sender-dependent route, in Postfix as in Sluice")
			continue
		}
		null := "<>"
		if p.set(m.emptyKey) {
			null = p.take(m.emptyKey)
		}
		seen := map[string]bool{}
		var these []pfRule
		for _, spec := range specs {
			entries, ok, err := p.readTable(spec)
			if err != nil {
				return fmt.Errorf("%s: %w", m.param, err)
			}
			if !ok {
				im.note(m.param, fmt.Sprintf("table %s: only hash-style tables (read from their source file) are imported; write its entries as route rules with a sender", spec))
				continue
			}
			for _, e := range entries {
				where := fmt.Sprintf("%s:%d %s %s", e.file, e.line, e.key, e.value)
				sender, why := pfSenderKey(e.key, null)
				if why == "" && seen[sender] {
					why = "the same sender as an earlier line, which Postfix's lookup finds first"
				}
				if why != "" {
					im.noteAt(where, why)
					continue
				}
				r := pfRule{match: "*", sender: sender, from: m.param + " " + where}
				switch {
				case strings.EqualFold(e.value, "DUNNO"):
					// Postfix: no sender-dependent route, the
					// default one; written, it keeps a broader key
					// of the table from taking this sender.
					r.transport = im.pfDefaultRoute()
					r.from += " (the default route: [delivery] relay, else MX)"
				case m.param == "sender_dependent_relayhost_maps":
					r.transport, why = im.pfRelayhost(e.value)
					if !strings.HasPrefix(e.value, "[") && why == "" {
						r.from += " (Postfix looks up its MX, Sluice dials its own addresses)"
					}
					r.service = pfTransportName(p.value("default_transport"))
				default:
					var reply string
					r.transport, reply, why = im.pfTransport(e.value)
					if reply != "" {
						r.transport, r.reply = "reject", reply
					}
					r.service = pfTransportName(e.value)
				}
				if why != "" {
					im.noteAt(where, why)
					continue
				}
				seen[sender] = true
				these = append(these, r)
			}
		}
		// Address keys (and <>) before domain keys, as Postfix looks
		// the sender's address up before its @domain.
		sort.SliceStable(these, func(i, j int) bool {
			return strings.Contains(these[i].sender, "@") && !strings.Contains(these[j].sender, "@")
		})
		if len(these) > 0 {
			route.from = appendOnce(route.from, m.param)
		}
		rules = append(rules, these...)
	}
	route.rules = append(route.rules, rules...)
	return nil
}

// pfSenderKey is a sender-dependent table's key as a route rule's
// sender, or why it has none.
func pfSenderKey(key, null string) (sender, why string) {
	k := strings.ToLower(key)
	at := strings.LastIndexByte(k, '@')
	switch {
	case key == null:
		return "<>", ""
	case at == 0 && len(k) > 1:
		return k[1:], "" // @domain: the domain's senders, not its subdomains'
	case at > 0 && at < len(k)-1:
		return k, ""
	}
	return "", "a sender key is user@domain, @domain or " + null + " (a bare user is Postfix's for its local domains only: write it with each domain)"
}

// pfRelayhost converts a relayhost-style next hop ([host]:port, host) to
// an smtp: route with the TLS level of smtp_tls_security_level, which
// Postfix applies to it as to relayhost, or says why it cannot.
func (im *importer) pfRelayhost(v string) (transport, why string) {
	hops := pfList(v)
	if len(hops) != 1 {
		return "", "one next hop a sender in Sluice"
	}
	if _, _, err := config.SplitRelay(hops[0]); err != nil {
		return "", err.Error()
	}
	r := "smtp:" + hops[0]
	if tls := tlsRoute[im.p.value("smtp_tls_security_level")]; tls != "" {
		r += "?tls=" + tls
	}
	if _, err := delivery.ParseRoute(r); err != nil {
		return "", err.Error()
	}
	return r, ""
}

// pfDefaultRoute is the default route as a rule writes it: mx, which is
// [delivery] relay when relayhost sets one, with smtp_tls_security_level's
// tls= when there is none, as delivery's "*" rule has it.
func (im *importer) pfDefaultRoute() string {
	tls := tlsRoute[im.p.value("smtp_tls_security_level")]
	if strings.TrimSpace(im.p.value("relayhost")) != "" || tls == "" || strings.HasPrefix(tls, "dane") {
		return "mx"
	}
	return "mx?tls=" + tls
}

func init() {
	// Kept here with the sender maps it goes with.
	pfReasons["smtp_sender_dependent_authentication"] = "each sender rule's smtp: transport takes authfile=FILE holding user:password, by hand (passwords are not copied)"
}
