package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// pfCanonicalNotes say why a setting of Postfix's address rewriting is
// not carried over, when main.cf sets it.
var pfCanonicalNotes = []struct{ param, why string }{
	{"canonical_maps", "rewrites senders and recipients: the sender part is the route stage's sender_canonical, the recipient part its aliases, by hand"},
	{"recipient_canonical_maps", "the route stage's aliases, by hand (an address to addresses; no @old @new domain form)"},
	{"smtp_generic_maps", "none: the route stage's sender_canonical rewrites the sender at DATA, for every destination"},
	{"sender_canonical_classes", "fixed in Sluice: the envelope sender, and the sender fields of relay_networks and AUTH clients' mail (rewrite_headers = false: the envelope alone)"},
	{"masquerade_classes", "no masquerade_domains carried over, which the classes are for (the route stage's masquerade_classes)"},
	{"local_header_rewrite_clients", "fixed in Sluice: relay_networks and AUTH clients (the route stage's rewrite_headers)"},
	{"remote_header_rewrite_domain", "none: Sluice rewrites no header of other clients' mail"},
}

// canonicalMaps carries sender_canonical_maps (hash-style tables, read
// as virtual_alias_maps is), masquerade_domains and masquerade_exceptions
// to the route stage's sender_canonical, masquerade_domains and
// masquerade_exceptions, which rewrite as Postfix's cleanup does (the
// address, without its extension, then @domain; "@domain" keeps the
// user), and masquerade_classes, when main.cf sets it, to the stage's
// (masqClasses). What the route stage would refuse at start is listed
// instead: a key but user@domain or @domain (a bare user, which Postfix
// looks up for its local domains only), a result but one address or
// @domain, a masquerade list with a table or a name that is no domain.
func (im *importer) canonicalMaps(route *pfRoute) error {
	p := im.p
	if p.set("sender_canonical_maps") {
		got, err := im.addrTables(route, "sender_canonical_maps", "sender_canonical", pfCanonicalValue)
		if err != nil {
			return err
		}
		route.senderCanonical = got
	}
	if p.set("masquerade_domains") {
		list := pfList(p.value("masquerade_domains"))
		why := ""
		for _, d := range list {
			if !envelope.ValidDomain(strings.TrimPrefix(d, "!")) || strings.HasPrefix(d, "[") {
				why = fmt.Sprintf("%q is no domain (a file or table is not imported): write the list as the route stage's masquerade_domains", d)
				break
			}
		}
		switch {
		case why != "":
			im.note("masquerade_domains", why)
		case len(list) == 0:
			im.note("masquerade_domains", "empty, as Postfix's default: nothing to masquerade")
		default:
			p.take("masquerade_domains")
			route.masqDomains = list
			route.from = appendOnce(route.from, "masquerade_domains")
		}
	}
	if p.set("masquerade_exceptions") {
		list := pfList(p.value("masquerade_exceptions"))
		why := ""
		if len(route.masqDomains) == 0 && len(list) > 0 {
			why = "no masquerade_domains carried over, which the exceptions are to"
		}
		for _, u := range list {
			if why == "" && strings.ContainsAny(u, "@/:") {
				why = fmt.Sprintf("%q is no user name (a file or table is not imported): write the names as the route stage's masquerade_exceptions", u)
			}
		}
		if why != "" {
			im.note("masquerade_exceptions", why)
		} else {
			p.take("masquerade_exceptions")
			route.masqExceptions = list
		}
	}
	im.masqClasses(route)
	im.rewriteHeaders(route)
	if p.set("recipient_canonical_maps") {
		im.srsNote("recipient_canonical_maps") // postsrsd's reverse table
	}
	for _, n := range pfCanonicalNotes {
		if p.set(n.param) && !p.used[n.param] {
			im.note(n.param, n.why)
		}
	}
	return nil
}

// masqClasses carries a masquerade_classes main.cf sets (Postfix's
// default is the stage's) to the route stage's, when masquerade_domains
// is carried: the classes it has, envelope_sender, header_sender and
// header_recipient, as they are. envelope_recipient, which the stage
// refuses (it masquerades no envelope recipient), and a name Postfix
// does not know (it stops on one) are left out of the list written, and
// the setting is listed as not carried over, saying so.
func (im *importer) masqClasses(route *pfRoute) {
	p := im.p
	const param = "masquerade_classes"
	if !p.set(param) || len(route.masqDomains) == 0 {
		return
	}
	list := []string{}
	var left []string
	for _, c := range pfList(p.value(param)) {
		switch c = strings.ToLower(c); c {
		case "envelope_sender", "header_sender", "header_recipient":
			if !slices.Contains(list, c) {
				list = append(list, c)
			}
		default:
			left = append(left, c)
		}
	}
	route.masqClasses = &pfSetting{value: tomlStrs(list), from: param}
	if len(left) == 0 {
		p.take(param)
		return
	}
	route.masqClasses.from = param + ", without " + strings.Join(left, ", ")
	why := strings.Join(left, ", ") + " left out: the route stage masquerades no envelope recipient"
	if slices.ContainsFunc(left, func(c string) bool { return c != "envelope_recipient" }) {
		why += ", and knows envelope_sender, header_sender and header_recipient alone (as Postfix does)"
	}
	im.note(param, why)
}

// pfHeaderClasses are the class settings that say whether Postfix's
// rewriting applies to the header fields (header_sender, and for
// masquerading header_recipient), with Postfix's defaults (postconf(5)).
var pfHeaderClasses = map[string]string{
	"sender_canonical_classes": "envelope_sender, header_sender",
	"masquerade_classes":       "envelope_sender, header_sender, header_recipient",
}

// rewriteHeaders decides the route stage's rewrite_headers as Postfix
// decides whether its cleanup rewrites the header fields: the carried
// rewriting's classes must list a header class (sender_canonical_classes
// header_sender; masquerade_classes, which the stage has too, either), and
// the client must match local_header_rewrite_clients
// (remote_header_rewrite_domain, for the others, has no counterpart).
// The stage's default, on, rewrote the fields of mail Postfix left alone
// where a site turned that off (sender_canonical_classes =
// envelope_sender, an empty local_header_rewrite_clients), which also
// breaks the DKIM signature a relay client made. A setting the one switch
// says all of is taken; the others stay listed.
func (im *importer) rewriteHeaders(route *pfRoute) {
	p := im.p
	var params []string
	if len(route.senderCanonical) > 0 {
		params = append(params, "sender_canonical_classes")
	}
	if len(route.masqDomains) > 0 {
		params = append(params, "masquerade_classes")
	}
	if len(params) == 0 {
		return
	}
	var with, without []string
	named := "" // the class settings main.cf sets, for the comment
	for _, param := range params {
		v := pfHeaderClasses[param]
		if p.set(param) {
			v = p.value(param)
		}
		classes := pfList(v)
		what := param + " = " + strings.Join(classes, ", ")
		if !p.set(param) {
			what = param + " (not set: " + v + ")"
		} else {
			named += what + ", "
		}
		switch {
		case slices.Contains(classes, "header_sender"),
			param == "masquerade_classes" && slices.Contains(classes, "header_recipient"):
			with = append(with, what)
		case param == "sender_canonical_classes":
			without = append(without, what)
		}
		// The stage's masquerade_classes says which fields masquerading
		// rewrites (masqClasses); sender_canonical always rewrites the
		// envelope sender and never a recipient: a list of just those,
		// the switch says it all.
		if param == "sender_canonical_classes" && p.set(param) && slices.Contains(classes, "envelope_sender") &&
			!slices.ContainsFunc(classes, func(c string) bool { return strings.Contains(c, "recipient") }) {
			p.take(param)
		}
	}
	const lhrc = "local_header_rewrite_clients"
	clients := strings.TrimSpace(p.value(lhrc))
	switch {
	case len(without) > 0:
		from := strings.Join(without, ", ") + ": no header_sender, the envelope sender alone"
		if len(with) > 0 {
			from += " (where " + strings.Join(with, ", ") + " has it: one switch for both here)"
		}
		route.rewriteHeaders = &pfSetting{value: "false", from: from}
	case p.set(lhrc) && clients == "" && strings.TrimSpace(p.value("remote_header_rewrite_domain")) == "":
		p.take(lhrc)
		route.rewriteHeaders = &pfSetting{value: "false", from: named + lhrc + " = (empty), remote_header_rewrite_domain = (empty): no client's sender fields are rewritten"}
	case !p.set(lhrc):
		route.rewriteHeaders = &pfSetting{value: "true", from: named + lhrc + " (not set: Postfix's default, permit_inet_interfaces, is this host's own clients; Sluice's are relay_networks and AUTH clients: false keeps their sender fields, and a DKIM signature over them, as sent)"}
	default:
		p.take(lhrc)
		route.rewriteHeaders = &pfSetting{value: "true", from: named + lhrc + " = " + clients + " (Sluice's are relay_networks and AUTH clients)"}
	}
}

// pfCanonicalValue says why a sender_canonical_maps result is not one
// the route stage takes ("" if it is).
func pfCanonicalValue(v string) string {
	switch {
	case len(pfList(v)) > 1:
		return "one address a key (Postfix uses the first, with a warning): keep one"
	case strings.HasPrefix(v, "@"):
		if !envelope.ValidDomain(v[1:]) {
			return "not a domain"
		}
		return ""
	case !strings.Contains(v, "@"):
		return "a bare name, which Postfix qualifies with $myorigin: write it with its domain"
	}
	if err := envelope.MailboxError(v); err != nil {
		return "not an address Sluice takes as a sender: " + err.Error()
	}
	return ""
}

// writeMasquerade writes the route stage's masquerade keys and
// rewrite_headers (in [stage.config], before its tables).
func writeMasquerade(b *strings.Builder, route *pfRoute) {
	if r := route.rewriteHeaders; r != nil {
		kv(b, r.from, "rewrite_headers", r.value)
	}
	if len(route.masqDomains) > 0 {
		kv(b, "masquerade_domains", "masquerade_domains", tomlStrs(route.masqDomains))
	}
	if len(route.masqExceptions) > 0 {
		kv(b, "masquerade_exceptions", "masquerade_exceptions", tomlStrs(route.masqExceptions))
	}
	if c := route.masqClasses; c != nil {
		kv(b, c.from, "masquerade_classes", c.value)
	}
}

// writeCanonical writes the route stage's sender_canonical table.
func writeCanonical(b *strings.Builder, route *pfRoute) {
	if len(route.senderCanonical) == 0 {
		return
	}
	fmt.Fprintf(b, "[stage.config.sender_canonical]\n")
	for _, e := range route.senderCanonical {
		kv(b, e.from, tomlStr(e.key), tomlStr(e.addr))
	}
}
