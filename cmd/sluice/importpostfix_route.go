package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	routeplugin "github.com/sluice-mta/sluice/plugins/route"
)

// pfRoute is what becomes the route stage: virtual_alias_maps' aliases,
// transport_maps' and the sender-dependent maps' rules, the BCC settings
// and the sender rewriting.
type pfRoute struct {
	aliasKeys    []string // in file order
	aliases      map[string][]string
	aliasFrom    map[string]string
	aliasDomains []string // keys written as a bare domain
	rules        []pfRule
	hasAll       bool // a "*" rule
	from         []string
	alwaysBcc    string
	senderBcc    []pfBcc
	recipientBcc []pfBcc
	// sender_canonical_maps' entries (pfBcc's fields: key, result, line),
	// masquerade_domains, masquerade_exceptions and masquerade_classes.
	senderCanonical []pfBcc
	masqDomains     []string
	masqExceptions  []string
	masqClasses     *pfSetting // nil: not set in main.cf, Postfix's default
	rewriteHeaders  *pfSetting // nil when no sender rewriting is carried

	// aliasesFiles are the aliases_file that stands for
	// virtual_alias_maps' tables, in its order, aliasesFileFrom its
	// comment; aliasesInline says why the aliases are inline instead (""
	// when there is nothing to say).
	aliasesFiles                   []string
	aliasesFileFrom, aliasesInline string
}

// pfSetting is one stage setting and the comment naming where it came
// from.
type pfSetting struct{ value, from string }

// pfRule is one route rule and the line it came from.
type pfRule struct {
	match, transport, reply, from string
	sender                        string // sender-dependent maps' key
	// service is the master.cf transport the rule's Postfix transport
	// named (relay for relay:[mx.example.com]), whose -o options
	// transportOptions carries.
	service string
}

// myorigin is $myorigin; Debian writes it as a file name whose first
// line is the domain (/etc/mailname). One under config_directory is read
// from -d's directory; any other, /etc/mailname, from this machine,
// which the draft's header says, since -d may be another host's copy.
func (im *importer) myorigin() string {
	v := im.p.take("myorigin")
	if !strings.HasPrefix(v, "/") {
		return v
	}
	path := im.p.localPath(v)
	data, err := pfReadFile(path)
	first, _, _ := strings.Cut(string(data), "\n")
	if err != nil || strings.TrimSpace(first) == "" {
		im.note("myorigin", fmt.Sprintf("%s could not be read: bare names in virtual_alias_maps were qualified with $myhostname", path))
		return im.p.value("myhostname")
	}
	origin := strings.TrimSpace(first)
	where := path
	if path == v {
		where += " on the machine running the import, not from " + im.p.dir
	}
	im.origin = fmt.Sprintf("myorigin = %s is %s, read from %s: bare names in virtual_alias_maps are qualified with it.", v, origin, where)
	return origin
}

// aliases reads virtual_alias_maps (virtual(5)): "user@domain targets",
// "@domain targets" (a catch-all), "user targets" (user at $myorigin and
// each $mydestination domain) and "domain anything" (a virtual alias
// domain); a target without a domain is qualified with $myorigin.
func (im *importer) aliases(route *pfRoute) error {
	route.aliases = map[string][]string{}
	route.aliasFrom = map[string]string{}
	if !im.p.set("virtual_alias_maps") {
		return nil
	}
	origin := ""
	originDomain := func() string { // read once, and only when needed
		if origin == "" {
			origin = im.myorigin()
		}
		return origin
	}
	bare := false // the entry being read has a target without a domain
	qualify := func(a string) string {
		if strings.Contains(a, "@") {
			return a
		}
		bare = true
		return a + "@" + originDomain()
	}
	// A key's targets are the first table's that has it: Postfix's
	// maps_find returns the first table's result, postmap keeps the first
	// of a key given twice in one file, and both fold keys to lower case
	// (DICT_FLAG_FOLD_FIX). mail_addr_find looks user@domain up in every
	// table before a bare user, so a user@domain key takes the place of a
	// bare user's expansion wherever it is. An entry not carried over
	// still holds its key: Postfix would never ask the later tables.
	type held struct {
		key   string // as written
		bare  bool   // a bare user's expansion
		where string // the entry's file:line
	}
	taken := map[string]held{} // by key folded
	noted := map[string]bool{} // the entries listed as not carried
	hold := func(key string, e pfEntry, bare bool) (first bool) {
		k, at := strings.ToLower(key), fmt.Sprintf("%s:%d", e.file, e.line)
		h, ok := taken[k]
		switch {
		case !ok:
			taken[k] = held{key: key, bare: bare, where: at}
			return true
		case h.bare && !bare:
			// user@domain over a bare user's expansion, as Postfix looks.
			if i := slices.Index(route.aliasKeys, h.key); i >= 0 {
				route.aliasKeys = slices.Delete(route.aliasKeys, i, i+1)
				delete(route.aliases, h.key)
				delete(route.aliasFrom, h.key)
			}
			taken[k] = held{key: key, where: at}
			return true
		case h.bare == bare && h.where != at && !noted[e.where()]:
			noted[e.where()] = true
			im.noteAt(e.where(), "also at "+h.where+", whose targets Postfix takes (the first table's, or the first line's in one file): not carried")
		}
		return false // a bare user's expansion behind a user@domain key, or its own at a domain named twice
	}
	add := func(key string, targets []string, from string) {
		route.aliasKeys = append(route.aliasKeys, key)
		route.aliasFrom[key] = from
		route.aliases[key] = targets
	}
	specs := pfList(im.p.take("virtual_alias_maps"))
	if im.aliasesFile(route, specs) {
		route.from = appendOnce(route.from, "virtual_alias_maps")
		return nil
	}
	entries, read, err := im.hashTables("virtual_alias_maps", specs, "write its aliases into the route stage")
	if err != nil {
		return err
	}
	if read {
		route.from = appendOnce(route.from, "virtual_alias_maps")
	}
	for _, e := range entries {
		from := fmt.Sprintf("virtual_alias_maps %s:%d", e.file, e.line)
		if !strings.Contains(e.key, "@") && strings.Contains(e.key, ".") {
			route.aliasDomains = append(route.aliasDomains, e.key)
			continue
		}
		var targets []string
		bad := false
		bare = false
		for _, t := range pfList(e.value) {
			if strings.HasPrefix(t, "@") {
				bad = true // a domain rewrite: @old.example @new.example
				break
			}
			targets = append(targets, qualify(t))
		}
		if bad || len(targets) == 0 || strings.HasSuffix(e.key, "@") {
			if strings.Contains(e.key, "@") && !strings.HasSuffix(e.key, "@") {
				hold(e.key, e, false)
			}
			im.noteAt(e.where(), "route aliases map an address or @domain to addresses: no domain rewriting (@old @new), no empty targets")
			continue
		}
		if bare {
			from += " (a bare name is at myorigin)"
		}
		if strings.Contains(e.key, "@") {
			if hold(e.key, e, false) {
				add(e.key, targets, from)
			}
			continue
		}
		// "user": at $myorigin and each $mydestination domain.
		for _, d := range append([]string{originDomain()}, pfList(im.p.value("mydestination"))...) {
			if key := e.key + "@" + strings.ToLower(d); !strings.ContainsAny(d, ":/") && hold(key, e, true) {
				add(key, targets, from)
			}
		}
	}
	return nil
}

// aliasesFile makes virtual_alias_maps' tables the route stage's
// aliases_file, in their order, when each is a hash-style table whose
// source file (the text postmap reads) the stage reads as it is and no
// key is in two of them (route.CheckAliasesFiles): the stage then reads
// the files itself, each again whenever it changes, as Postfix's daemons
// take up a table postmap rebuilt. Otherwise the aliases are inline as
// before, and route.aliasesInline says why: a table of another type, or
// files the stage would refuse (a key in two tables, which Postfix
// takes from the first, is refused as one both in a file and inline
// is). A file that cannot be read is left to hashTables, which says so.
func (im *importer) aliasesFile(route *pfRoute, specs []string) bool {
	var names []string
	other := ""
	for _, spec := range specs {
		if typ, name, ok := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":"); ok && pfTableTypes[typ] && name != "" {
			// A table named again (hash: and proxy:hash:) has nothing
			// Postfix would take from it, and the stage refuses a file
			// named twice.
			if !slices.ContainsFunc(names, func(n string) bool { return filepath.Clean(n) == filepath.Clean(name) }) {
				names = append(names, name)
			}
		} else if other == "" {
			other = spec
		}
	}
	if len(names) == 0 {
		return false
	}
	if other != "" {
		route.aliasesInline = "inline, not an aliases_file: virtual_alias_maps names " + other + " too, not a hash-style table, and aliases_file takes only those tables' source files"
		return false
	}
	var files []routeplugin.AliasesSource
	for _, name := range names {
		if !filepath.IsAbs(name) {
			route.aliasesInline = "inline, not an aliases_file: " + name + " is not an absolute path"
			return false
		}
		data, err := pfReadFile(im.p.localPath(name))
		if err != nil {
			return false
		}
		files = append(files, routeplugin.AliasesSource{Path: name, Content: data})
	}
	if err := routeplugin.CheckAliasesFiles(files...); err != nil {
		route.aliasesInline = "inline, not aliases_file = " + aliasesFileValue(names) + ", which the route stage would refuse: " + err.Error()
		return false
	}
	route.aliasesFiles = names
	route.aliasesFileFrom = "virtual_alias_maps = " + im.p.raw("virtual_alias_maps") + ": its source file (the one postmap reads), read again whenever it changes, as Postfix takes up a rebuilt table: no postmap needed"
	if len(names) > 1 {
		route.aliasesFileFrom = "virtual_alias_maps = " + im.p.raw("virtual_alias_maps") + ": the tables' source files (the ones postmap reads), each read again whenever it changes, as Postfix takes up a rebuilt table: no postmap needed; no key is in two of them (the route stage refuses one that is, where Postfix takes the first table's)"
	}
	return true
}

// aliasesFileValue is aliases_file's TOML value for names: a string for
// one file, else a list.
func aliasesFileValue(names []string) string {
	if len(names) == 1 {
		return tomlStr(names[0])
	}
	return tomlStrs(names)
}

// appendOnce appends s unless it is already there.
func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// dsnText is an error: next hop's leading enhanced status code.
var dsnText = regexp.MustCompile(`^([245])\.\d{1,3}\.\d{1,3}\s`)

// pfTransportName is the master.cf transport a transport_maps value
// ("transport:nexthop") names.
func pfTransportName(v string) string {
	t, _, _ := strings.Cut(v, ":")
	if t == "" {
		t = "smtp" // default_transport
	}
	return t
}

// transportCommand is the delivery agent transport t runs: master.cf's
// unix service of that name, else Postfix's stock one (relay is smtp).
func (p *pfConf) transportCommand(t string) string {
	if s, ok := p.service(t, "unix"); ok {
		return s.command
	}
	if t == "relay" {
		return "smtp"
	}
	return t
}

// pfTransport converts a transport_maps value ("transport:nexthop") to a
// route transport, or says why it cannot. An smtp(8) transport's route
// carries main.cf's smtp_tls_security_level, as Postfix's smtp applies it
// to every delivery, unless its service sets its own (smtpTLS).
func (im *importer) pfTransport(v string) (transport, reply, why string) {
	_, hop, _ := strings.Cut(v, ":")
	t := pfTransportName(v)
	var r string
	switch cmd := im.p.transportCommand(t); {
	case t == "discard":
		return "discard", "", ""
	case t == "error":
		text := hop
		if !dsnText.MatchString(text + " ") {
			text = "5.0.0 " + text
		}
		code := "550"
		if text[0] == '4' {
			code = "450"
		}
		return "reject", code + " " + strings.TrimSpace(text), ""
	case cmd == "smtp":
		if hop == "" {
			// The recipient domain's MX, under main.cf's TLS level.
			r = im.pfDefaultRoute(t)
			break
		}
		if _, _, err := config.SplitRelay(hop); err != nil {
			return "", "", err.Error()
		}
		r = im.smtpHop(hop, t)
	case cmd == "lmtp":
		lmtp, _ := im.p.service(t, "unix")
		switch kind, rest, _ := strings.Cut(hop, ":"); {
		case hop == "":
			return "", "", "lmtp without a next hop: name the server"
		case kind == "unix":
			r = "lmtp:unix:" + im.p.queuePath(rest, lmtp.chrooted())
		case kind == "inet":
			r = "lmtp:inet:" + rest
		default:
			r = "lmtp:tcp:" + hop
		}
	default:
		return "", "", fmt.Sprintf("transport %s: none in Sluice (local, virtual and pipe delivery are a mailbox server's, reached by LMTP)", t)
	}
	if _, err := delivery.ParseRoute(r); err != nil {
		return "", "", err.Error()
	}
	return r, "", ""
}

// matchRank orders rules as Postfix's transport_maps search them, most
// specific first (transport(5)): addresses, domains, .domain parents
// (deeper first), then "*"; the route plugin takes the first match.
func matchRank(m string) int {
	switch {
	case m == "*":
		return 1000
	case strings.Contains(m, "@"):
		return 0
	case strings.HasPrefix(m, "."):
		return 500 - strings.Count(m, ".")
	}
	return 1
}

func (im *importer) transports(route *pfRoute) error {
	p := im.p
	if p.set("transport_maps") {
		entries, read, err := im.hashTables("transport_maps", pfList(p.take("transport_maps")), "write its entries as route rules")
		if err != nil {
			return err
		}
		if read {
			route.from = appendOnce(route.from, "transport_maps")
		}
		for _, e := range entries {
			where := e.where()
			if strings.HasPrefix(e.key, "@") || strings.HasSuffix(e.key, "@") {
				im.noteAt(where, "route rules match a domain, .domain, user@domain or *")
				continue
			}
			tr, reply, why := im.pfTransport(e.value)
			if why != "" {
				im.noteAt(where, why)
				continue
			}
			route.rules = append(route.rules, pfRule{match: strings.ToLower(e.key), transport: tr, reply: reply, from: "transport_maps " + where + im.tlsFrom(tr), service: pfTransportName(e.value)})
			route.hasAll = route.hasAll || e.key == "*"
		}
	}
	// The final delivery transports of the domain classes, after
	// transport_maps, which Postfix asks first.
	for _, c := range []struct{ transport, domains string }{{"virtual_transport", "virtual_mailbox_domains"}, {"mailbox_transport", "mydestination"}} {
		if !p.set(c.transport) {
			continue
		}
		if route.hasAll {
			im.note(c.transport, "transport_maps' * rule already takes every recipient")
			continue
		}
		value := p.take(c.transport)
		tr, reply, why := im.pfTransport(value)
		if why != "" || reply != "" {
			im.note(c.transport, why)
			continue
		}
		route.from = appendOnce(route.from, c.transport)
	domains:
		for _, d := range pfList(p.value(c.domains)) {
			d = strings.ToLower(d)
			if strings.ContainsAny(d, ":/") {
				continue
			}
			for _, r := range route.rules {
				if r.match == d {
					continue domains // transport_maps has its own
				}
			}
			route.rules = append(route.rules, pfRule{match: d, transport: tr, from: fmt.Sprintf("%s = %s, for %s", c.transport, p.raw(c.transport), c.domains) + im.tlsFrom(tr), service: pfTransportName(value)})
		}
	}
	if err := im.senderRoutes(route); err != nil {
		return err
	}
	im.transportOptions(route)
	return nil
}

// routeStage writes the route stage, first in the pipeline so that no
// earlier stage's accept skips its aliases (README, "Routing").
func (im *importer) routeStage(route *pfRoute) {
	if len(route.aliases) == 0 && len(route.aliasesFiles) == 0 && len(route.rules) == 0 && route.alwaysBcc == "" && len(route.senderBcc)+len(route.recipientBcc) == 0 &&
		len(route.senderCanonical)+len(route.masqDomains) == 0 {
		if im.p.set("recipient_delimiter") && !im.p.used["recipient_delimiter"] {
			im.note("recipient_delimiter", "the route stage's detail_separator; no route stage was needed here")
		}
		return
	}
	sort.SliceStable(route.rules, func(i, j int) bool { return matchRank(route.rules[i].match) < matchRank(route.rules[j].match) })
	b := &im.body
	first := "first"
	switch {
	case len(im.filterStages) == 1:
		first = "first but the filter stage, which accepts nothing,"
	case len(im.filterStages) > 1:
		first = "first but the filter stages, which accept nothing,"
	}
	fmt.Fprintf(b, "\n# %s: the route stage, %s so that no earlier stage's accept skips its aliases\n", strings.Join(route.from, ", "), first)
	fmt.Fprintf(b, "[[stage]]\nname = %s\nplugin = %s\n", tomlStr("route"), tomlStr("route"))
	if im.p.set("recipient_delimiter") || route.alwaysBcc != "" || route.rewriteHeaders != nil || len(route.aliasesFiles) > 0 {
		fmt.Fprintf(b, "[stage.config]\n")
	}
	if im.p.set("recipient_delimiter") {
		kv(b, "recipient_delimiter", "detail_separator", tomlStr(im.p.take("recipient_delimiter")))
	}
	if route.alwaysBcc != "" {
		kv(b, "always_bcc (a copy with NOTIFY=NEVER, as Postfix adds it)", "always_bcc", tomlStr(route.alwaysBcc))
	}
	if len(route.aliasesFiles) > 0 {
		kv(b, route.aliasesFileFrom, "aliases_file", aliasesFileValue(route.aliasesFiles))
	}
	writeMasquerade(b, route)
	if len(route.aliasKeys) > 0 {
		fmt.Fprintf(b, "[stage.config.aliases]\n")
		if route.aliasesInline != "" {
			fmt.Fprintf(b, "# %s\n", tomlComment(oneLine(route.aliasesInline)))
		}
		for _, k := range route.aliasKeys {
			kv(b, route.aliasFrom[k], tomlStr(k), tomlStrs(route.aliases[k]))
		}
	}
	writeBcc(b, route)
	writeCanonical(b, route)
	for _, r := range route.rules {
		fmt.Fprintf(b, "[[stage.config.rules]]\n# %s\nmatch = %s\n", tomlComment(r.from), tomlStr(r.match))
		if r.sender != "" {
			fmt.Fprintf(b, "sender = %s\n", tomlStr(r.sender))
		}
		fmt.Fprintf(b, "transport = %s\n", tomlStr(r.transport))
		if r.reply != "" {
			fmt.Fprintf(b, "reply = %s\n", tomlStr(r.reply))
		}
	}
}
