package main

import (
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// senderRoutes carries sender_dependent_default_transport_maps and
// sender_dependent_relayhost_maps (hash-style tables) as route rules with
// a sender: match = "*", sender = a key's address or domain ("<>" for
// the null sender's key). Postfix asks them only for recipients no
// transport_maps entry or local class routes, and for a relay_domains
// one the relayhost map alone (transport(5): its next hop comes from
// relay_transport, then sender_dependent_relayhost_maps, then
// relayhost); the route stage takes the first matching rule, so they go
// after the rules of transport_maps and the mailbox domains (matchRank
// puts "*" last), before the "*" rule of smtp_tls_security_level,
// address keys before domain keys, as Postfix looks up the address
// first. A transport_maps "*" entry takes every recipient in Postfix as
// in Sluice: they are then listed instead.
//
// The two maps are not two lists of routes: Postfix's trivial-rewrite
// looks each up on its own for the sender (resolve.c), the first for the
// transport, the second for the next hop, which a transport with a next
// hop of its own (smtp:[bulk.example]:25) overrides. So one rule is
// written for each key of either map, with what both lookups give a
// sender of that key: a transport without a next hop (bulk:, smtp:) or
// DUNNO goes to the relayhost map's next hop, else relayhost's (the
// default route). Rules copied from each map in turn would let the first
// map's rule hide the second's for the same sender (which the route stage
// refuses at start) or send the sender's mail past its next hop.
func (im *importer) senderRoutes(route *pfRoute) error {
	p := im.p
	var xport, relay *pfSenderMap
	for _, m := range []struct {
		param, emptyKey string
		out             **pfSenderMap
	}{
		{"sender_dependent_default_transport_maps", "empty_address_default_transport_maps_lookup_key", &xport},
		{"sender_dependent_relayhost_maps", "empty_address_relayhost_maps_lookup_key", &relay},
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
		sm, err := im.readSenderMap(m.param, null, specs)
		if err != nil {
			return err
		}
		*m.out = sm
	}
	var keys []string
	seen := map[string]bool{}
	for _, sm := range []*pfSenderMap{xport, relay} {
		if sm == nil {
			continue
		}
		for _, k := range sm.order {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// Address keys before domain keys, as Postfix looks the sender's
	// address up before its @domain.
	sort.SliceStable(keys, func(i, j int) bool {
		return strings.Contains(keys[i], "@") && !strings.Contains(keys[j], "@")
	})
	noted := map[string]bool{} // a table line listed once, however many keys reach it
	for _, k := range keys {
		r, where, why := im.senderRule(k, xport, relay)
		if why != "" {
			if !noted[where] {
				noted[where] = true
				im.noteAt(where, why)
			}
			continue
		}
		route.rules = append(route.rules, r)
	}
	for _, sm := range []*pfSenderMap{xport, relay} {
		if sm != nil && sm.used {
			route.from = appendOnce(route.from, sm.param)
		}
	}
	return nil
}

// pfSenderMap is one sender-dependent map: its lines by sender (a route
// rule's sender: user@domain, domain, <>), the first of each.
type pfSenderMap struct {
	param string
	by    map[string]pfSenderHop
	order []string
	used  bool // a rule was written from it
}

// pfSenderHop is one line of a sender-dependent map.
type pfSenderHop struct {
	value string
	where string // file:line key value
}

// readSenderMap reads param's tables, listing the lines no rule can come
// from.
func (im *importer) readSenderMap(param, null string, specs []string) (*pfSenderMap, error) {
	entries, _, err := im.hashTables(param, specs, "write its entries as route rules with a sender")
	if err != nil {
		return nil, err
	}
	sm := &pfSenderMap{param: param, by: map[string]pfSenderHop{}}
	for _, e := range entries {
		where := e.where()
		sender, why := pfSenderKey(e.key, null)
		if _, dup := sm.by[sender]; why == "" && dup {
			why = "the same sender as an earlier line, which Postfix's lookup finds first"
		}
		if why != "" {
			im.noteAt(where, why)
			continue
		}
		sm.by[sender] = pfSenderHop{value: e.value, where: where}
		sm.order = append(sm.order, sender)
	}
	return sm, nil
}

// lookup finds sender's line as Postfix's lookup does: the address, then
// its @domain (the null sender's key alone); DUNNO ends the search with
// nothing found, as it does in Postfix.
func (sm *pfSenderMap) lookup(sender string) (hop pfSenderHop, found, dunno bool) {
	if sm == nil {
		return pfSenderHop{}, false, false
	}
	hop, found = sm.by[sender]
	if at := strings.LastIndexByte(sender, '@'); !found && at > 0 {
		hop, found = sm.by[sender[at+1:]]
	}
	if found && strings.EqualFold(hop.value, "DUNNO") {
		return hop, false, true
	}
	return hop, found, false
}

// senderRule is the route rule for the senders of key: the transport
// xport's lookup gives, unless it has no next hop, when relay's next hop,
// else the default route, takes it. why says why there is none, where the
// line it is about.
func (im *importer) senderRule(key string, xport, relay *pfSenderMap) (r pfRule, where, why string) {
	r = pfRule{match: "*", sender: key, service: pfTransportName(im.p.value("default_transport"))}
	var from []string
	t, hasT, tDunno := xport.lookup(key)
	if hasT || tDunno {
		from = append(from, xport.param+" "+t.where)
	}
	if hasT {
		tr, reply, why := im.pfTransport(t.value)
		if why != "" {
			return r, t.where, why
		}
		r.service = pfTransportName(t.value)
		xport.used = true
		switch {
		case reply != "":
			r.transport, r.reply = "reject", reply
		case !isDefaultRoute(tr):
			// A next hop of its own, which overrides the relayhost
			// map's (resolve.c).
			r.transport = tr
		}
	}
	if r.transport == "" {
		n, hasN, nDunno := relay.lookup(key)
		if hasN || nDunno {
			from = append(from, relay.param+" "+n.where)
		}
		switch {
		case hasN:
			tr, why := im.pfRelayhost(n.value, r.service)
			if why != "" {
				return r, n.where, why
			}
			relay.used = true
			r.transport = tr
			if !strings.HasPrefix(n.value, "[") {
				from[len(from)-1] += " (Postfix looks up its MX, Sluice dials its own addresses)"
			}
		default:
			// DUNNO, or no line: relayhost, else MX.
			if tDunno {
				xport.used = true
			}
			if nDunno {
				relay.used = true
			}
			r.transport = im.pfDefaultRoute(r.service)
			from[len(from)-1] += " (the default route: [delivery] relay, else MX)"
		}
	}
	r.from = strings.Join(from, "; ") + im.tlsFrom(r.transport)
	return r, "", ""
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
// an smtp: route for master.cf's service, with the TLS level Postfix
// applies to it (smtpTLS), or says why it cannot.
func (im *importer) pfRelayhost(v, service string) (transport, why string) {
	hops := pfList(v)
	if len(hops) != 1 {
		return "", "one next hop a sender in Sluice"
	}
	if _, _, err := config.SplitRelay(hops[0]); err != nil {
		return "", err.Error()
	}
	r := im.smtpHop(hops[0], service)
	if _, err := delivery.ParseRoute(r); err != nil {
		return "", err.Error()
	}
	return r, ""
}

// smtpHop is the smtp: route to a next hop ([host]:port, host) for
// master.cf's service, with the TLS level Postfix applies to it
// (smtpTLS): the one code path of transport_maps, the mailbox classes'
// transports and the sender maps.
func (im *importer) smtpHop(hop, service string) string {
	r := "smtp:" + hop
	if tls := im.smtpTLS(service); tls != "" {
		r += "?tls=" + tls
	}
	return r
}

// tlsFrom is what a rule's comment adds when its route carries main.cf's
// smtp_tls_security_level (transportOptions adds a service's own later,
// naming its -o).
func (im *importer) tlsFrom(route string) string {
	if !strings.Contains(route, "?tls=") {
		return ""
	}
	return ", smtp_tls_security_level = " + im.p.value("smtp_tls_security_level")
}

// isDefaultRoute reports whether route is the default route (mx, with
// or without main.cf's tls=), not a next hop of its own.
func isDefaultRoute(route string) bool {
	return route == "mx" || strings.HasPrefix(route, "mx?")
}

// pfDefaultRoute is the default route as a rule for service writes it:
// mx, which is [delivery] relay when relayhost sets one, with
// smtp_tls_security_level's tls= when there is none, as delivery's "*"
// rule has it.
func (im *importer) pfDefaultRoute(service string) string {
	tls := im.smtpTLS(service)
	if strings.TrimSpace(im.p.value("relayhost")) != "" || tls == "" || strings.HasPrefix(tls, "dane") {
		return "mx"
	}
	return "mx?tls=" + tls
}

// smtpTLS is the tls= of main.cf's smtp_tls_security_level for a route
// of master.cf's service, "" for may, or when the service's own -o sets
// the level: that one is Postfix's for the service, and transportOptions
// carries it onto the rule (with main.cf's there too, the route would
// have two and the service's would be dropped).
func (im *importer) smtpTLS(service string) string {
	if s, ok := im.p.service(service, "unix"); ok && s.command == "smtp" {
		if _, own := s.opts["smtp_tls_security_level"]; own {
			return ""
		}
	}
	return tlsRoute[im.p.value("smtp_tls_security_level")]
}

func init() {
	// Kept here with the sender maps it goes with.
	pfReasons["smtp_sender_dependent_authentication"] = "each sender rule's smtp: transport takes authfile=FILE holding user:password, by hand (passwords are not copied)"
}
