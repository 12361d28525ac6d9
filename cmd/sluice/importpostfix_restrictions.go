package main

import (
	"fmt"
	"slices"
	"strings"
)

// pfRList is one of smtpd's restriction lists: its parameter, the short
// name the filter rules' names start with, the class Postfix's replies
// name (smtpd_check.c's SMTPD_NAME_*), the filter hook its own checks
// belong to (the data lists' at the data hook: envelope rules), the
// access restriction a bare TYPE:NAME in it stands for (its def_acl),
// and the hook of the policy stage a check_policy_service in it becomes.
type pfRList struct {
	param, short, class, hook, access, policy string
}

// pfRLists are the lists a client's mail passes, in the order smtpd
// evaluates them: client, helo, sender, relay before recipient (Postfix
// 3's smtpd_relay_before_recipient_restrictions), data, end of data.
// Every part of the import that reads a list takes its name from here
// and its restrictions from pfElems.
var pfRLists = []pfRList{
	{"smtpd_client_restrictions", "client", "Client host", "connect", "check_client_access", "connect"},
	{"smtpd_helo_restrictions", "helo", "Helo command", "helo", "check_helo_access", "helo"},
	{"smtpd_sender_restrictions", "sender", "Sender address", "mail", "check_sender_access", "mail"},
	{"smtpd_relay_restrictions", "relay", "Recipient address", "rcpt", "check_recipient_access", "rcpt"},
	{"smtpd_recipient_restrictions", "recipient", "Recipient address", "rcpt", "check_recipient_access", "rcpt"},
	{"smtpd_data_restrictions", "data", "Data command", "envelope", "", "data"},
	{"smtpd_end_of_data_restrictions", "end-of-data", "End-of-data", "envelope", "", "end-of-data"},
}

// pfHookOrder is the order of the filter's hooks in a session.
var pfHookOrder = map[string]int{"connect": 0, "helo": 1, "mail": 2, "rcpt": 3, "envelope": 4}

// pfElem is one restriction of a list, with its argument.
type pfElem struct {
	list *pfRList
	idx  int    // its place among the list's items (pfRestrictionList)
	name string // lower case, as Postfix compares it; an implicit table's access restriction
	orig string // as written: a restriction class's name is found with its case
	arg  string // the table, zone or server; "" for none
	warn bool   // warn_if_reject before it
	text string // as written
}

func (e pfElem) key() string { return pfElemKey(e.list.param, e.idx) }

// pfElemKey names element idx of list param, for the record of what
// became of it.
func pfElemKey(param string, idx int) string { return fmt.Sprintf("%s#%d", param, idx) }

// pfTakesArg reports whether restriction name is followed by an argument.
func pfTakesArg(name string) bool {
	switch name {
	case pfPolicyRestriction, "reject_rbl_client", "reject_rbl", "permit_dnswl_client", "permit_rhswl_client",
		"reject_rhsbl_client", "reject_rhsbl_reverse_client", "reject_rhsbl_helo", "reject_rhsbl_sender",
		"reject_rhsbl_recipient", "sleep":
		return true
	}
	return strings.HasPrefix(name, "check_") && strings.HasSuffix(name, "_access")
}

// pfElems reads a restriction list as smtpd_check_parse and
// generic_checks do: a restriction and, for those that take one, the word
// after it; a bare TYPE:NAME is the list's access restriction;
// warn_if_reject goes with the restriction after it. It is the one
// reader of restriction lists: main.cf's, a service's -o ones, a
// restriction class's.
func pfElems(l *pfRList, value string) []pfElem {
	items := pfRestrictionList(value)
	var out []pfElem
	warn, warnAt := false, 0
	for i := 0; i < len(items); i++ {
		name := strings.ToLower(items[i])
		if name == "warn_if_reject" {
			if !warn {
				warnAt = i
			}
			warn = true
			continue
		}
		e := pfElem{list: l, idx: i, name: name, orig: items[i], warn: warn}
		first := i
		if warn {
			first = warnAt
		}
		switch {
		case strings.Contains(items[i], ":") && l.access != "":
			e.name, e.arg = l.access, items[i]
		case pfTakesArg(name) && i+1 < len(items):
			e.arg = items[i+1]
			i++
		}
		e.text = strings.Join(items[first:i+1], " ")
		warn = false
		out = append(out, e)
	}
	if warn {
		out = append(out, pfElem{list: l, idx: warnAt, name: "warn_if_reject", text: "warn_if_reject"})
	}
	return out
}

// pfRestrictionList splits a restriction list at white space and commas
// outside braces, as Postfix's smtpd does (argv_splitq with braces
// kept): "{ … }" is one item.
func pfRestrictionList(s string) []string { return pfSplitBraced(s, " \t\n,") }

// pfListText is list l's value as its restrictions read, one line, to
// tell two lists apart however they are spaced.
func pfListText(l *pfRList, value string) string {
	var texts []string
	for _, e := range pfElems(l, value) {
		texts = append(texts, e.text)
	}
	return strings.Join(texts, " ")
}

// pfNamed reports whether one of elems is restriction name.
func pfNamed(elems []pfElem, name string) bool {
	return slices.ContainsFunc(elems, func(e pfElem) bool { return e.name == name })
}

// pfOutcome is what became of an element: noted, with why, when it was
// not carried over or not as Postfix has it.
type pfOutcome struct {
	noted bool
	why   string
	rules bool // filter rules were written for it
	// carried says what does its work, when no rule of the stage does.
	carried string
}

// pfRestrictionWork is the state of the filter stage being drafted,
// for the services of group g.
type pfRestrictionWork struct {
	im    *importer
	g     *pfRGroup
	rules []pfFilterRule
	names map[string]bool
	// passAt are the rules at each hook that end its evaluation for
	// some clients (pass rules, access tables), with their list.
	passAt map[string][]pfPassRule
	// tables says whether some rule is an access rule, for
	// access_parent_domains; addresses whether one is at mail or rcpt,
	// for detail_separator.
	tables, addresses bool
	// lists name the lists rules were written for; listeners and
	// services are those of the stage, the group's and those of the
	// groups whose stage would be the same (into it).
	lists, listeners, services []string
	into                       *pfRestrictionWork
}

// pfPassRule is a rule that may end its hook's evaluation.
type pfPassRule struct {
	list *pfRList
	kind string // mynetworks, dnswl, rhswl, access
	arg  string
	text string
}

// pfPermit is a permit-like element of the list being walked, and the
// hooks its pass rule was written at.
type pfPermit struct {
	e    pfElem
	kind string // mynetworks, dnswl, rhswl, access, sasl, authdest
	hook string // access: the table's hook
	at   map[string]bool
	// affects are the rules after a sasl or authdest permit that it
	// cannot spare: a sasl one's at connect or helo, any authdest one's.
	affects []string
}

// pfFilterRule is one rule of the stage, its keys TOML already.
type pfFilterRule struct {
	from, name, hook string
	keys             [][2]string
}

// restrictionStage drafts the filter stages the restriction lists'
// checks become, one for each group of services that ask the same lists
// (restrictionGroups), and records what became of each element
// (restrictionNotes lists them once the policy and verify stages are
// written). Groups whose stages would be the same, the services of one
// kind and of the other, share one.
func (im *importer) restrictionStage() string {
	groups := im.restrictionGroups()
	var all []string
	works := make([]*pfRestrictionWork, len(groups))
	for i, g := range groups {
		all = append(all, g.listeners...)
		works[i] = im.groupRules(g)
	}
	var b strings.Builder
	for i, w := range works {
		if len(w.rules) == 0 || w.into != nil {
			continue
		}
		for _, o := range works[i+1:] {
			if o.into == nil && o.g.key == w.g.key && o.same(w) {
				o.into = w
				w.listeners = append(w.listeners, o.g.listeners...)
				w.services = append(w.services, o.g.services...)
			}
		}
		b.WriteString(im.groupStage(w, len(w.listeners) < len(all)))
		for _, o := range works[i+1:] {
			if o.into == w {
				o.g.stage = w.g.stage
			}
		}
	}
	return b.String()
}

// groupRules walks group g's lists.
func (im *importer) groupRules(g *pfRGroup) *pfRestrictionWork {
	w := &pfRestrictionWork{im: im, g: g, names: map[string]bool{}, passAt: map[string][]pfPassRule{},
		listeners: slices.Clone(g.listeners), services: slices.Clone(g.services)}
	g.out = map[string]pfOutcome{}
	for i := range pfRLists {
		l := &pfRLists[i]
		v, ok := g.list(im.p, l.param)
		if !ok {
			continue
		}
		n := len(w.rules)
		w.walk(l, pfElems(l, v))
		if len(w.rules) > n {
			w.lists = append(w.lists, g.from(l.param))
		}
	}
	return w
}

// same reports whether w and o wrote the same stage.
func (w *pfRestrictionWork) same(o *pfRestrictionWork) bool {
	return w.tables == o.tables && w.addresses == o.addresses && slices.EqualFunc(w.rules, o.rules, func(a, b pfFilterRule) bool {
		return a.from == b.from && a.name == b.name && a.hook == b.hook && slices.Equal(a.keys, b.keys)
	})
}

// groupStage writes w's filter stage; keyed says it serves its
// listeners only.
func (im *importer) groupStage(w *pfRestrictionWork, keyed bool) string {
	g := w.g
	g.stage = "restrictions"
	if slices.Contains(im.filterStages, g.stage) || g.key != "" {
		g.stage += "-" + strings.Join(w.listeners, "-")
	}
	im.filterStages = append(im.filterStages, g.stage)
	var b strings.Builder
	fmt.Fprintf(&b, "\n# %s: Postfix's restrictions, a filter rule or more under each one they came from; first, as Postfix asks them before its recipient tables and alias expansion, and before the policy and verify stages Postfix asks in the same lists\n", tomlComment(strings.Join(w.lists, ", ")))
	fmt.Fprintf(&b, "[[stage]]\nname = %s\nplugin = %s\n", tomlStr(g.stage), tomlStr("filter"))
	if keyed {
		why := "the listeners of the services that ask main.cf's lists"
		if g.key != "" {
			why = "the listeners of the services whose own -o lists these are"
		}
		kv(&b, why+": "+strings.Join(w.services, ", "), "listeners", tomlStrs(w.listeners))
	}
	im.restrictionSettings(&b, w.tables, w.addresses)
	for _, r := range w.rules {
		fmt.Fprintf(&b, "[[stage.config.rules]]\n# %s\nname = %s\nhook = %s\n", tomlComment(r.from), tomlStr(r.name), tomlStr(r.hook))
		for _, kv := range r.keys {
			fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
		}
	}
	return b.String()
}

// restrictionSettings writes the stage's own keys for its access
// rules: recipient_delimiter for the user+ext@ keys of those at mail or
// rcpt (addresses), and parent domain matching (tables).
func (im *importer) restrictionSettings(b *strings.Builder, tables, addresses bool) {
	p := im.p
	var keys strings.Builder
	if addresses && p.set("recipient_delimiter") {
		p.used["recipient_delimiter"] = true
		kv(&keys, "recipient_delimiter, for the access tables' user+extension@ keys", "detail_separator", tomlStr(p.value("recipient_delimiter")))
	}
	if tables && p.set("parent_domain_matches_subdomains") && !slices.Contains(pfList(p.value("parent_domain_matches_subdomains")), "smtpd_access_maps") {
		kv(&keys, "parent_domain_matches_subdomains without smtpd_access_maps: a domain key matches that domain alone, .domain its subdomains", "access_parent_domains", "false")
	}
	if keys.Len() > 0 {
		fmt.Fprintf(b, "[stage.config]\n%s", keys.String())
	}
}

// walk translates one list, element by element.
func (w *pfRestrictionWork) walk(l *pfRList, elems []pfElem) {
	var permits []*pfPermit
	ended := ""
	policyBefore := ""
	for _, e := range elems {
		if ended != "" {
			w.g.out[e.key()] = pfOutcome{noted: true, why: "after " + ended + ": Postfix never gets to it"}
			continue
		}
		t := w.im.translate(e)
		switch t.kind {
		case pkPermit:
			permits = append(permits, &pfPermit{e: e, kind: t.permit, at: map[string]bool{}})
			w.g.out[e.key()] = pfOutcome{}
		case pkRule:
			var diffs []string
			if t.why != "" {
				diffs = append(diffs, t.why)
			}
			hook := t.hook
			if hook == "" {
				hook = l.hook
				for _, p := range permits {
					if p.kind == "access" {
						hook = p.hook
					}
				}
				if hook == l.hook && pfHookOrder[hook] < pfHookOrder["mail"] && pfYes(w.im.p.value("smtpd_delay_reject")) &&
					slices.ContainsFunc(permits, func(p *pfPermit) bool { return p.kind == "sasl" }) {
					// A DNS list after permit_sasl_authenticated in the
					// client or HELO list, which Postfix asks at RCPT,
					// after AUTH: at mail, where the filter asks it for no
					// authenticated session, as the rule after the permit.
					// At connect it would refuse a user on a listed
					// dynamic address at its AUTH.
					hook = "mail"
				}
			}
			if w.submissionSpared(l, hook, permits) {
				// Not written: see submissionSpared.
				w.g.out[e.key()] = pfOutcome{carried: "on the submission listeners every session that sends has authenticated, which permit_sasl_authenticated lets through: its rules after it at connect and helo, asked before AUTH, are left out"}
				continue
			}
			diffs = append(diffs, w.placed(e, hook)...)
			if policyBefore != "" {
				diffs = append(diffs, fmt.Sprintf("after %s, whose OK ends the list in Postfix: the filter asks it before that policy stage", policyBefore))
			}
			for i, spec := range t.rules {
				w.write(e, hook, spec, permits, &diffs, i == 0)
			}
			if t.passes {
				w.passAt[hook] = append(w.passAt[hook], pfPassRule{list: l, kind: "access", arg: e.arg, text: e.text})
				permits = append(permits, &pfPermit{e: e, kind: "access", hook: hook, at: map[string]bool{}})
			}
			w.tables = w.tables || t.passes
			w.addresses = w.addresses || t.passes && (hook == "mail" || hook == "rcpt")
			w.g.out[e.key()] = pfOutcome{noted: len(diffs) > 0, why: strings.Join(diffs, "; "), rules: true}
		case pkStage:
			var diffs []string
			for _, p := range permits {
				switch p.kind {
				case "access", "dnswl", "rhswl":
					diffs = append(diffs, fmt.Sprintf("an OK from %s before it does not spare the stage", p.e.text))
				case "authdest":
					diffs = append(diffs, "permit_auth_destination before it does not spare the stage")
				}
			}
			if e.warn {
				diffs = append(diffs, "warn_if_reject: none for a stage, which refuses as it would without")
			}
			if e.name == pfPolicyRestriction && policyBefore == "" {
				policyBefore = pfPolicyRestriction + " " + e.arg
			}
			w.g.out[e.key()] = pfOutcome{noted: len(diffs) > 0, why: strings.Join(diffs, "; ")}
		case pkBuiltin:
			w.g.out[e.key()] = pfOutcome{noted: t.why != "", why: t.why}
		default:
			w.g.out[e.key()] = pfOutcome{noted: true, why: t.why}
			if (e.name == "reject" || e.name == "defer") && pfEnds(e) {
				if out, ok := w.submissionEnd(l, e, permits); ok {
					w.g.out[e.key()] = out
				}
			}
		}
		if t.ends {
			ended = e.text
		}
	}
	for _, p := range permits {
		if len(p.affects) == 0 {
			continue
		}
		what := "the filter's connect and helo rules run before AUTH, so these after it refuse an authenticated session too, which Postfix, asking the list after AUTH, lets through (a pass rule on authenticated = true spares one the rules at mail and after)"
		if p.kind == "authdest" {
			what = "the filter cannot tell mail for this host's domains from relayed mail, so these after it apply to it too"
		}
		w.g.out[p.e.key()] = pfOutcome{noted: true, why: what + ": " + strings.Join(p.affects, ", ")}
	}
}

// submissionSpared reports whether a rule of list l at hook, after
// permits, is one Postfix spares every session that can send on the
// group's listeners, all submission ones, which refuse MAIL before AUTH:
// a connect or helo rule after permit_sasl_authenticated, in a list
// Postfix asks after AUTH. The filter asks it before AUTH and would
// refuse the site's own users (a laptop's EHLO without a dot), so it is
// left out there.
func (w *pfRestrictionWork) submissionSpared(l *pfRList, hook string, permits []*pfPermit) bool {
	return w.g.submission && pfHookOrder[hook] < pfHookOrder["mail"] &&
		(pfYes(w.im.p.value("smtpd_delay_reject")) || pfHookOrder[l.hook] >= pfHookOrder["mail"]) &&
		slices.ContainsFunc(permits, func(p *pfPermit) bool { return p.kind == "sasl" })
}

// submissionEnd is what a reject or defer after permit_sasl_authenticated
// is on submission listeners, which refuse MAIL before AUTH (530
// 5.7.0): the same, when Postfix asks the list after AUTH. After other
// permits alone (permit_mynetworks, reject: a LAN's hosts sending on
// 587 without AUTH) it is not carried, and the clients those permits
// let through are refused there unless they authenticate, where
// Postfix serves them: the note says so. ok is false elsewhere.
func (w *pfRestrictionWork) submissionEnd(l *pfRList, e pfElem, permits []*pfPermit) (pfOutcome, bool) {
	if !w.g.submission {
		return pfOutcome{}, false
	}
	var others []string
	for _, p := range permits {
		if p.kind != "sasl" {
			others = append(others, p.e.text)
		}
	}
	// Postfix asks the list after AUTH, where a permit_sasl_authenticated
	// in it lets the session through.
	afterAuth := pfYes(w.im.p.value("smtpd_delay_reject")) || pfHookOrder[l.hook] >= pfHookOrder["mail"]
	if !afterAuth || !slices.ContainsFunc(permits, func(p *pfPermit) bool { return p.kind == "sasl" }) {
		if len(others) == 0 {
			return pfOutcome{}, false
		}
		return pfOutcome{noted: true, why: fmt.Sprintf("%s; and the submission listeners refuse MAIL before AUTH (530 5.7.0) from every client, so one %s lets through here, which Postfix serves without AUTH, is refused unless it authenticates (on port 587 a listener of kind = \"smtp\", with tls_required, serves it as Postfix does; an implicit-TLS submissions listener always asks for AUTH)",
			pfRestrNone[e.name], strings.Join(others, ", "))}, true
	}
	const carried = "the submission listeners refuse MAIL before AUTH (530 5.7.0): permit_sasl_authenticated, then %s, is that"
	out := pfOutcome{carried: fmt.Sprintf(carried, e.text)}
	if len(others) > 0 {
		out.noted, out.why = true, fmt.Sprintf("a client %s lets through must authenticate too on these listeners", strings.Join(others, ", "))
	}
	return out, true
}

// placed says how a rule of e at hook differs from Postfix's asking it
// in its list: with smtpd_delay_reject = no, Postfix asks each list at
// its own command.
func (w *pfRestrictionWork) placed(e pfElem, hook string) []string {
	if pfYes(w.im.p.value("smtpd_delay_reject")) || hook == "envelope" || hook == e.list.hook {
		return nil
	}
	if pfHookOrder[hook] < pfHookOrder[e.list.hook] {
		return []string{fmt.Sprintf("refused at the %s hook here; Postfix, with smtpd_delay_reject = no, refuses at its list's command", hook)}
	}
	return []string{fmt.Sprintf("asked at the %s hook here; Postfix, with smtpd_delay_reject = no, asks its list before that and never refuses there", hook)}
}

// write adds spec's rule for e at hook, after the pass rules the
// permits before it in its list call for there, and adds to diffs what
// its placement cannot keep of Postfix's.
func (w *pfRestrictionWork) write(e pfElem, hook string, spec pfRuleSpec, permits []*pfPermit, diffs *[]string, first bool) {
	note := func(s string) {
		if first && !slices.Contains(*diffs, s) {
			*diffs = append(*diffs, s)
		}
	}
	for _, p := range permits {
		switch p.kind {
		case "mynetworks", "dnswl", "rhswl", "sasl":
			if p.at[hook] || p.kind == "mynetworks" && spec.spares != "" {
				// Written once a hook; a rule the filter asks for no
				// relay_networks client needs no pass rule before it.
				continue
			}
			if p.kind == "sasl" && pfHookOrder[hook] < pfHookOrder["mail"] {
				// A session authenticates after EHLO: the connect and
				// helo rules cannot tell (said once, with the permit, in
				// walk). Postfix asks a list with permit_sasl_authenticated
				// at RCPT, after AUTH, when smtpd_delay_reject is on or it
				// is the sender list or a later one's.
				if pfYes(w.im.p.value("smtpd_delay_reject")) || pfHookOrder[e.list.hook] >= pfHookOrder["mail"] {
					p.affects = appendOnce(p.affects, e.text)
				}
				continue
			}
			if p.kind == "sasl" && spec.spares != "" {
				// From mail on, the filter asks it for no authenticated
				// session anyway.
				continue
			}
			if p.kind == "rhswl" && hook != "connect" {
				note(fmt.Sprintf("%s before it does not spare it: the filter asks a client name's list at connect only", p.e.text))
				continue
			}
			p.at[hook] = true
			w.add(p.e, hook, w.passRule(p), "", "")
			w.passAt[hook] = append(w.passAt[hook], pfPassRule{list: e.list, kind: p.kind, arg: p.e.arg, text: p.e.text})
		case "access":
			if p.hook != hook {
				note(fmt.Sprintf("an OK from %s before it does not spare it: that table is asked at the %s hook, this rule at %s", p.e.text, p.hook, hook))
			}
		case "authdest":
			p.affects = appendOnce(p.affects, e.text)
		}
	}
	if spec.spares != "" {
		// The filter spares these clients whatever comes before.
		own := map[string]bool{}
		for _, p := range permits {
			own[p.kind] = true
		}
		relay, auth := !own["mynetworks"], !own["sasl"] && pfHookOrder[hook] >= pfHookOrder["mail"]
		switch {
		case relay && auth:
			note(fmt.Sprintf("the filter never asks %s for a relay_networks client or an authenticated session; Postfix does here, with no permit_mynetworks or permit_sasl_authenticated before it", spec.spares))
		case relay:
			note(fmt.Sprintf("the filter never asks %s for a relay_networks client; Postfix does here, with no permit_mynetworks before it", spec.spares))
		case auth:
			note(fmt.Sprintf("the filter never asks %s for an authenticated session; Postfix does here, with no permit_sasl_authenticated before it", spec.spares))
		}
	}
	for _, q := range w.passAt[hook] {
		if q.list == e.list {
			continue
		}
		if q.kind == "access" {
			note(fmt.Sprintf("an OK from %s of %s ends the filter's %s rules, this one's too, where Postfix ends that list only", q.text, w.g.from(q.list.param), hook))
			continue
		}
		if !slices.ContainsFunc(permits, func(p *pfPermit) bool { return p.kind == q.kind && p.e.arg == q.arg }) {
			note(fmt.Sprintf("the pass rule for %s of %s ends the filter's %s rules for those clients, this one's too, where Postfix ends that list only", q.text, w.g.from(q.list.param), hook))
		}
	}
	w.add(e, hook, spec.keys, spec.suffix, spec.comment)
}

// passRule is a permit's pass rule keys at its hook.
func (w *pfRestrictionWork) passRule(p *pfPermit) [][2]string {
	var keys [][2]string
	switch p.kind {
	case "mynetworks":
		keys = append(keys, [2]string{"networks", tomlStrs(w.im.relayNets)})
	case "dnswl":
		keys = append(keys, [2]string{"dnsbl", tomlStrs([]string{p.e.arg})})
	case "rhswl":
		keys = append(keys, [2]string{"rhsbl", tomlStrs([]string{p.e.arg})})
	case "sasl":
		keys = append(keys, [2]string{"authenticated", "true"})
	}
	return append(keys, [2]string{"action", tomlStr("pass")})
}

// add writes a rule of e at hook, named after its list and the element
// (and, at another hook than its list's, that hook).
func (w *pfRestrictionWork) add(e pfElem, hook string, keys [][2]string, suffix, comment string) {
	name := e.list.short + ": " + e.text + suffix
	if hook != e.list.hook {
		name += " (at " + hook + ")"
	}
	for n := 2; w.names[name]; n++ {
		name = fmt.Sprintf("%s: %s%s (%d)", e.list.short, e.text, suffix, n)
	}
	w.names[name] = true
	if hook == "envelope" && !slices.ContainsFunc(keys, func(k [2]string) bool { return k[0] == "min_recipients" }) {
		// An envelope rule needs a count; every message has one.
		keys = append([][2]string{{"min_recipients", "1"}}, keys...)
	}
	from := w.g.from(e.list.param) + ": " + e.text + comment
	w.rules = append(w.rules, pfFilterRule{from: from, name: name, hook: hook, keys: keys})
}
