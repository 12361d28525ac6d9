package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// transportOptions carries the -o options of master.cf's smtp(8)
// transports onto the route rules that name them (README's "Coming from
// Postfix": -o smtp_bind_address= is a route's ?source=,
// smtp_tls_security_level its ?tls=), and lists every other -o of a
// service that is not an SMTP listener (listeners lists theirs), with why.
func (im *importer) transportOptions(route *pfRoute) {
	p := im.p
	def := pfTransportName(p.value("default_transport"))
	for _, s := range p.services {
		if s.typ == "inet" && (s.command == "smtpd" || s.command == "postscreen") || im.takenByListener(s.line) {
			continue // a listener's (listeners)
		}
		var rules []*pfRule
		for i := range route.rules {
			if s.typ == "unix" && route.rules[i].service == s.name {
				rules = append(rules, &route.rules[i])
			}
		}
		for _, o := range s.optOrder {
			written := fmt.Sprintf("master.cf:%d %s -o %s=%s", s.line, s.name, o, s.opts[o])
			if strings.HasSuffix(o, pfRateSuffix) {
				im.noteAt(written, pfRateOption(s.name))
				continue
			}
			if strings.HasSuffix(o, pfRcptLimitSuffix) {
				im.noteAt(written, pfRcptLimitOption(s.name))
				continue
			}
			if s.typ != "unix" || s.command != "smtp" {
				why, ok := pfReasons[o]
				switch {
				case ok:
				case s.typ == "pass" && s.command == "smtpd":
					why = "a setting of an smtpd that postscreen hands clients to: no postscreen service imported hands them to this one (smtpd_service_name), so it is on no listener"
				default:
					why = fmt.Sprintf("a setting of Postfix's %s(8) service: none in Sluice", s.command)
				}
				im.noteAt(written, why)
				continue
			}
			param, why := pfRouteParam(o, p.expand(s.opts[o]))
			if why != "" {
				im.noteAt(written, why)
				continue
			}
			carried := false
			for _, r := range rules {
				t := r.transport
				if param != "" {
					t = withRouteParam(t, param)
				}
				if _, err := delivery.ParseRoute(t); err != nil {
					im.noteAt(written, fmt.Sprintf("not on the rule for %s: %v", r.match, err))
					continue
				}
				r.transport = t
				r.from += ", " + written
				s.used[o] = true
				carried = true
			}
			switch {
			case s.name == def:
				// Options on default_transport's service apply to
				// all MX mail and relayhost's, which [delivery]
				// sets, not a route rule.
				why := "transport " + s.name + " is Postfix's default_transport: for MX and relayhost mail, [delivery] source_address, source_address6, dane or the relay's ?tls=, by hand"
				if carried {
					why = "carried onto the route rules naming " + s.name + "; " + why
				}
				im.noteAt(written, why)
			case len(rules) == 0:
				im.noteAt(written, "no route rule names transport "+s.name+" (transport_maps, virtual_transport)")
			}
		}
	}
}

// pfRouteParam is the route parameter an smtp(8) -o option becomes ("" for
// smtp_tls_security_level = may, opportunistic as a route is anyway), or
// why there is none.
func pfRouteParam(name, value string) (param, why string) {
	switch name {
	case "smtp_bind_address", "smtp_bind_address6":
		a, err := config.ParseSourceAddr(value)
		if err != nil || a.Is6() != (name == "smtp_bind_address6") {
			return "", "not an address of its family"
		}
		return "source=" + a.String(), ""
	case "smtp_tls_security_level":
		tls, ok := tlsRoute[value]
		switch {
		case !ok:
			return "", "none: Sluice always tries STARTTLS (no none, no fingerprint)"
		case tls == "":
			return "", ""
		}
		return "tls=" + tls, ""
	case "smtp_fallback_relay", "fallback_relay":
		// The classic -o smtp_fallback_relay= of a backup MX's relay
		// transport: a route rule's mail never falls back in Sluice.
		if strings.TrimSpace(value) == "" {
			return "", ""
		}
		return "", "none per route: a route rule's smtp: next hop never falls back; [delivery] fallback_relay serves MX and relay mail only"
	}
	return "", "a route's transport takes source= (smtp_bind_address, smtp_bind_address6) and tls= (smtp_tls_security_level) only"
}

// withRouteParam is transport with one more key=value parameter: after
// "?" for its first, "&" for the next ones.
func withRouteParam(transport, param string) string {
	if strings.Contains(transport, "?") {
		return transport + "&" + param
	}
	return transport + "?" + param
}

// noteUnusedTransportParams lists the main.cf parameters NAME+suffix no
// carried transport read: the per-transport settings of a transport no
// route rule delivers by and that is not default_transport.
func (im *importer) noteUnusedTransportParams(suffix string) {
	p := im.p
	for _, prm := range p.params {
		t, ok := strings.CutSuffix(prm.name, suffix)
		if ok && !p.used[prm.name] && t != "default" {
			im.note(prm.name, "no route rule delivers by transport "+t+" (transport_maps, virtual_transport, mailbox_transport, the sender maps), nor is it default_transport")
		}
	}
}
