package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/delivery"
)

// pfVerifyRestriction is what becomes verify stages.
const pfVerifyRestriction = "reject_unverified_recipient"

// pfVerifyParams are the parameters of Postfix's address verification
// that a verify stage has a word on.
var pfVerifyParams = []string{
	"unverified_recipient_reject_code", "unverified_recipient_tempfail_action", "unverified_recipient_defer_code",
	"unverified_recipient_reject_reason", "address_verify_sender", "address_verify_relayhost",
	"address_verify_positive_expire_time", "address_verify_positive_refresh_time",
	"address_verify_negative_expire_time", "address_verify_negative_refresh_time",
	"address_verify_negative_cache", "address_verify_poll_count", "address_verify_poll_delay", "address_verify_map",
}

// pfVerifyHop is one next hop to ask and the domains whose recipients go
// to it.
type pfVerifyHop struct {
	hop, from string
	domains   []string
}

// verifyStages writes a verify stage for reject_unverified_recipient in
// smtpd_recipient_restrictions or smtpd_relay_restrictions: Postfix
// probes each recipient by its own route, a verify stage asks one next
// hop about the recipients of its domains. So each domain whose next hop
// is plain (a transport_maps, virtual_transport or mailbox_transport
// rule's smtp: or lmtp: server; relay_domains' the relayhost, or
// address_verify_relayhost) goes to the stage of that hop, one stage a
// hop; a domain delivered by MX, and an address's own rule, are listed
// with why. A permit_mynetworks or permit_sasl_authenticated before it
// in its list is the stage's skip_relay_clients or skip_authenticated.
func (im *importer) verifyStages(route *pfRoute) {
	p := im.p
	var param string
	var before []pfElem
	for i := range pfRLists {
		// The lists asked at RCPT: relay, then recipient.
		l := &pfRLists[i]
		if l.hook != "rcpt" || !p.set(l.param) || param != "" {
			continue
		}
		if ls, _, all := im.askedBy(l.param); !all && len(ls) == 0 {
			// Every service has its own list (restrictionNotes).
			continue
		}
		elems := pfElems(l, p.value(l.param))
		for n, e := range elems {
			if e.name == pfVerifyRestriction && pfReached(elems[:n]) {
				param, before = l.param, elems[:n]
				break
			}
		}
	}
	if param == "" {
		for _, prm := range pfVerifyParams {
			if p.set(prm) {
				im.note(prm, "a verify stage's, for "+pfVerifyRestriction+", which neither smtpd_recipient_restrictions nor smtpd_relay_restrictions names")
			}
		}
		return
	}
	// The default route's next hop: relayhost, or address_verify_relayhost
	// in its place for probes (Postfix's own override); "" is MX.
	relay, relayFrom := strings.TrimSpace(p.value("relayhost")), "relayhost"
	if p.set("address_verify_relayhost") {
		relay, relayFrom = strings.TrimSpace(p.take("address_verify_relayhost")), "address_verify_relayhost"
	}
	if hs := pfList(relay); len(hs) > 0 {
		relay = im.smtpHop(hs[0], pfTransportName(p.value("relay_transport")))
	}
	var hops []*pfVerifyHop
	byHop := map[string]*pfVerifyHop{}
	seen := map[string]bool{}
	add := func(domain, transport, from string) {
		if isDefaultRoute(transport) && relay != "" {
			transport, from = relay, from+" by "+relayFrom
		}
		hop, why := pfVerifyNextHop(transport)
		switch {
		case why != "":
			im.noteAt(pfVerifyRestriction+" for "+domain, why)
			return
		case hop == "":
			return
		}
		seen[domain] = true
		h := byHop[hop]
		if h == nil {
			h = &pfVerifyHop{hop: hop, from: from}
			byHop[hop] = h
			hops = append(hops, h)
		} else if !strings.Contains(h.from, from) {
			h.from += ", " + from
		}
		h.domains = append(h.domains, domain)
	}
	for _, r := range route.rules {
		switch {
		case r.sender != "" || r.match == "*" || seen[r.match]:
			// By sender, or every other recipient's: no domain of its own.
		case strings.Contains(r.match, "@"):
			im.noteAt(pfVerifyRestriction+" for "+r.match, "a verify stage asks by domain: this address's own next hop is not asked (its domain's is)")
		default:
			add(r.match, r.transport, strings.SplitN(r.from, ",", 2)[0])
		}
	}
	if p.set("relay_domains") {
		for _, d := range pfList(p.value("relay_domains")) {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			switch {
			case strings.ContainsAny(d, ":/"):
				im.noteAt(pfVerifyRestriction+" for relay_domains "+d, "a table or file of domains: list them in the verify stage's domains, by hand")
			case !seen[d]:
				add(d, "mx", "relay_domains")
			}
		}
	}
	what := fmt.Sprintf("%s = %s", param, p.raw(param))
	// The list itself is listed with the filter stage's (restrictionNotes).
	im.verifyParam = param
	if len(hops) == 0 {
		im.verifyNone = "no domain has one next hop to ask (see the " + pfVerifyRestriction + " lines)"
		return
	}
	b := &im.body
	for i, h := range hops {
		name := "verify"
		if i > 0 {
			name += "-" + strconv.Itoa(i+1)
		}
		fmt.Fprintf(b, "\n# %s: Postfix's address verification, one stage a next hop\n", tomlComment(what))
		fmt.Fprintf(b, "[[stage]]\nname = %s\nplugin = %s\n", tomlStr(name), tomlStr("verify"))
		im.listenersKey(b, param)
		b.WriteString("[stage.config]\n")
		kv(b, h.from, "next_hop", tomlStr(h.hop))
		kv(b, "the domains routed to it (recipients of other domains are not asked about)", "domains", tomlStrs(h.domains))
		im.verifySettings(b, before, i == 0)
	}
}

// pfVerifyNextHop is the next_hop a verify stage asks for mail that goes
// by transport, "" for a route that has none to ask (reject, discard),
// or why it cannot.
func pfVerifyNextHop(transport string) (hop, why string) {
	rt, err := delivery.ParseRoute(transport)
	switch {
	case err != nil:
		return "", err.Error()
	case rt.Kind == delivery.RouteMX:
		return "", "delivered by MX: no one next hop to ask"
	case rt.Kind != delivery.RouteSMTP && rt.Kind != delivery.RouteLMTP:
		return "", ""
	case rt.TLS == delivery.TLSDANE || rt.TLS == delivery.TLSDANEOnly:
		return "", "its next hop is authenticated by DANE, which a probe cannot check: a verify stage with tls=verify, by hand"
	case rt.AuthFile != "":
		return "", "its next hop is sent to with AUTH, which a probe does not do: a verify stage for a server that takes RCPT without it, by hand"
	}
	// A probe binds no source address and waits for no rate delay.
	return delivery.Route{Kind: rt.Kind, Network: rt.Network, Addr: rt.Addr, TLS: rt.TLS, CAFile: rt.CAFile}.String(), ""
}

// verifySettings writes the keys of a verify stage that Postfix's
// settings decide; each Postfix parameter is read (and listed when not
// carried) once, with the first stage.
func (im *importer) verifySettings(b *strings.Builder, before []pfElem, first bool) {
	p := im.p
	pfSkipKeys(b, before, pfVerifyRestriction)
	code, from := p.value("unverified_recipient_reject_code"), "unverified_recipient_reject_code"
	if !p.set(from) {
		code, from = "450", from+" (not set: Postfix's default, 450; 550 refuses for good)"
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
		if first {
			p.take("unverified_recipient_reject_code")
		}
		kv(b, from, "reject_code", code)
	} else if first {
		im.note("unverified_recipient_reject_code", "not a 4xx or 5xx code")
	}
	switch a := p.value("unverified_recipient_tempfail_action"); {
	case a == "" || a == "defer" || a == "defer_if_permit":
		// defer_if_permit lets a later restriction reject first; a
		// stage's tempfail ends the RCPT's pipeline, as defer does.
		if first && p.set("unverified_recipient_tempfail_action") {
			p.take("unverified_recipient_tempfail_action")
		}
	case a == "dunno" || a == "permit":
		if first {
			p.take("unverified_recipient_tempfail_action")
		}
		kv(b, "unverified_recipient_tempfail_action = "+a, "tempfail_action", tomlStr("accept"))
	case first:
		im.note("unverified_recipient_tempfail_action", "tempfail_action is defer (450 4.1.1) or accept")
	}
	if p.set("address_verify_sender") {
		switch s := strings.TrimSpace(p.value("address_verify_sender")); {
		case s == "" || s == "<>":
			if first {
				p.take("address_verify_sender")
			}
			kv(b, "address_verify_sender", "sender", tomlStr("<>"))
		case strings.Contains(s, "@"):
			if first {
				p.take("address_verify_sender")
			}
			kv(b, "address_verify_sender", "sender", tomlStr(s))
		case first:
			im.note("address_verify_sender", "a local part without a domain: the verify stage's sender, a whole address, by hand (default double-bounce@ the hostname)")
		}
	}
	for _, t := range []struct{ param, key string }{
		{"address_verify_positive_expire_time", "positive_expire_time"},
		{"address_verify_positive_refresh_time", "positive_refresh_time"},
		{"address_verify_negative_expire_time", "negative_expire_time"},
		{"address_verify_negative_refresh_time", "negative_refresh_time"},
	} {
		if !p.set(t.param) {
			continue
		}
		d, ok := pfTime(p.value(t.param), "d")
		if !ok || strings.HasPrefix(d, "0") {
			if first {
				im.note(t.param, "not a positive time")
			}
			continue
		}
		if first {
			p.take(t.param)
		}
		kv(b, t.param, t.key, tomlStr(d))
	}
	im.verifyNegativeCache(b, first)
	if !first {
		return
	}
	for param, why := range map[string]string{
		"unverified_recipient_defer_code":    "fixed: 450 4.1.1 to a recipient that could not be verified",
		"unverified_recipient_reject_reason": "fixed: the client is told \"undeliverable address\"; the next hop's reply goes to the trace and the log",
		"address_verify_poll_count":          "none: the RCPT waits for its probe, up to the stage's timeout (4s)",
		"address_verify_poll_delay":          "none: the RCPT waits for its probe, up to the stage's timeout (4s)",
		"address_verify_map":                 "the results are kept in the stage's state directory (DATA_DIR/plugins/STAGE)",
		"address_verify_transport_maps":      "a verify stage's next_hop and domains, by hand",
		"address_verify_default_transport":   "a verify stage's next_hop and domains, by hand",
	} {
		if p.set(param) {
			im.note(param, why)
		}
	}
}

// verifyNegativeCache writes what address_verify_negative_cache = no
// becomes. Postfix then keeps no failed probe, deferred or bounced
// (verify_append: "undeliverable-but-not-cached"); a verify stage can
// keep no deferred one (tempfail_refresh_time = "0s"), but always keeps
// an undeliverable answer, so that half is listed. yes is the default
// of both.
func (im *importer) verifyNegativeCache(b *strings.Builder, first bool) {
	const param = "address_verify_negative_cache"
	p := im.p
	if !p.set(param) {
		return
	}
	switch on, ok := pfBool(p.value(param)); {
	case !ok:
		if first {
			im.note(param, "not yes or no")
		}
	case on:
		if first {
			p.take(param)
		}
	default:
		kv(b, param+" = no: an address the next hop could not verify is not kept, each RCPT asking", "tempfail_refresh_time", tomlStr("0s"))
		if first {
			p.take(param)
			im.note(param, "in part: a refused address is still kept, asked about again after negative_refresh_time "+
				"(address_verify_negative_refresh_time; a short one asks again sooner), where Postfix keeps no refusal")
		}
	}
}
