package main

import (
	"fmt"
	"slices"
	"strings"
)

// pfReplyCodes are the reply code parameters of the restrictions the
// filter rules are written for, by restriction.
var pfReplyCodes = map[string]string{
	"maps_rbl_reject_code":               "reject_rbl_client and reject_rhsbl_*",
	"unknown_address_reject_code":        "reject_unknown_sender_domain and reject_unknown_recipient_domain",
	"non_fqdn_reject_code":               "reject_non_fqdn_*",
	"invalid_hostname_reject_code":       "reject_invalid_helo_hostname",
	"unknown_client_reject_code":         "reject_unknown_client_hostname",
	"multi_recipient_bounce_reject_code": "reject_multi_recipient_bounce",
}

// restrictionNotes lists, once the filter, policy and verify stages are
// written, each restriction list that was not carried over whole: a
// line saying what became of it, then a line for each restriction not
// carried or not as Postfix has it. A list carried whole is not listed.
// main.cf's lists are told as the first group of services asking them
// has them (a service asking one beside its own lists gets a line for
// each restriction that fares otherwise there), then each service's own
// -o lists under its master.cf line.
func (im *importer) restrictionNotes() {
	p := im.p
	for i := range pfRLists {
		l := &pfRLists[i]
		if !p.set(l.param) {
			continue
		}
		ref := im.refGroup(l.param)
		if ref == nil {
			im.note(l.param, "every service imported has its own master.cf -o "+l.param+": main.cf's is asked on none of their listeners")
			continue
		}
		why, below, whole := im.listOutcome(ref, l, p.value(l.param), true)
		if whole {
			// Carried whole, and the stages' comments name it.
			p.used[l.param] = true
		} else {
			im.note(l.param, why)
			for _, b := range below {
				im.noteUnder(l.param, l.param+": "+b[0], b[1])
			}
		}
	}
	// Each group's lines in master.cf order, with its services' others.
	groups := slices.Clone(im.rgroups)
	slices.SortStableFunc(groups, func(a, b *pfRGroup) int { return a.order - b.order })
	for _, g := range groups {
		for i := range pfRLists {
			l := &pfRLists[i]
			ref := im.refGroup(l.param)
			if !p.set(l.param) || ref == nil || g == ref || g.replaces(l.param) {
				continue
			}
			for _, e := range pfElems(l, p.value(l.param)) {
				a, b := ref.out[e.key()], g.out[e.key()]
				if a == b {
					continue
				}
				why := b.why
				switch {
				case b.noted:
				case b.carried != "":
					why = b.carried
				default:
					why = "as Postfix has it on these listeners"
				}
				im.noteFor(g, g.label()+": "+l.param+": "+e.text, why)
			}
		}
		for i := range pfRLists {
			l := &pfRLists[i]
			if !g.replaces(l.param) {
				continue
			}
			why, below, whole := im.listOutcome(g, l, g.own[l.param], false)
			if whole {
				continue
			}
			im.noteFor(g, g.label()+" -o "+l.param+"="+g.ownRaw[l.param], why)
			for _, b := range below {
				im.noteFor(g, g.label()+" -o "+l.param+": "+b[0], b[1])
			}
		}
	}
	im.restrictionParams()
}

// listOutcome is what became of list l as group g asks it (value, main.cf's
// when main): why is the line for the list, below a line for each
// restriction not carried or not as Postfix has it, whole that the list
// was carried whole and needs no line at all.
func (im *importer) listOutcome(g *pfRGroup, l *pfRList, value string, main bool) (why string, below [][2]string, whole bool) {
	elems := pfElems(l, value)
	if len(elems) == 0 {
		// An empty list asks nothing, as no rule does.
		return "", nil, true
	}
	var carried, policies []string
	written := false
	verifyFirst := true
	for n, e := range elems {
		out := g.out[e.key()]
		switch {
		case e.name == "permit" && n == len(elems)-1:
			// The end of a list lets the rest through anyway.
			out = pfOutcome{}
		case (e.name == pfVerifyRestriction || e.name == pfPolicyRestriction) && !pfReached(elems[:n]):
			// No stage: the walk's note says Postfix never gets to it.
		case e.name == pfVerifyRestriction && !main:
			// The verify stages are main.cf's lists'.
			out = pfOutcome{noted: true, why: fmt.Sprintf("none for a service's own list: a verify stage with listeners = %s, by hand", tomlStrs(g.listeners))}
		case e.name == pfPolicyRestriction:
			names := im.policyNames
			if !main {
				names = g.policies
			}
			if name := names[e.key()]; name != "" {
				policies = append(policies, name)
			}
		case e.name == pfVerifyRestriction:
			switch {
			case im.verifyParam != l.param || !verifyFirst:
				out = pfOutcome{noted: true, why: "verify stages are written for the first reject_unverified_recipient of smtpd_relay_restrictions, else smtpd_recipient_restrictions"}
			case im.verifyNone != "":
				out = pfOutcome{noted: true, why: im.verifyNone}
			default:
				carried = appendOnce(carried, "reject_unverified_recipient: the verify stages")
				written = true
			}
			verifyFirst = false
		}
		switch {
		case out.rules:
			carried = appendOnce(carried, "filter rules in the "+g.stage+" stage")
			written = true
		case pfBuiltins[e.name] != "":
			carried = appendOnce(carried, pfBuiltins[e.name])
		case out.carried != "":
			carried = appendOnce(carried, out.carried)
		}
		if out.noted {
			below = append(below, [2]string{e.text, out.why})
		}
	}
	if len(below) == 0 && (written || len(policies) > 0) {
		return "", nil, true
	}
	if len(policies) > 0 {
		carried = append(carried, fmt.Sprintf("%s: the policy stage%s %s", pfPolicyRestriction, map[bool]string{true: "s", false: ""}[len(policies) > 1], strings.Join(policies, ", ")))
	}
	var parts []string
	if len(carried) > 0 {
		parts = append(parts, strings.Join(carried, "; "))
	}
	if len(below) > 0 {
		parts = append(parts, "the restrictions below are not carried over, or not as Postfix has them")
	}
	why = strings.Join(parts, "; ")
	if why == "" {
		why = "nothing to carry over"
	}
	return why, below, false
}

// pfBuiltins say what in Sluice does a restriction's work.
var pfBuiltins = map[string]string{
	"reject_unauth_destination": "relay control is built in (relay_networks, AUTH; 554 5.7.1 Relay access denied)",
	"defer_unauth_destination":  "relay control is built in (relay_networks, AUTH; 554 5.7.1 Relay access denied)",
	"reject_unlisted_recipient": "unknown recipients are the route stage's (recipients, probe) and the verify stages'",
	"check_recipient_maps":      "unknown recipients are the route stage's (recipients, probe) and the verify stages'",
	"reject_unauth_pipelining":  "reject_unauth_pipelining: forbid_unauth_pipelining",
}

// restrictionParams lists the parameters that go with the restrictions:
// classes, reply codes no rule was written for, the access tables'
// settings the filter fixes.
func (im *importer) restrictionParams() {
	p := im.p
	if p.set("smtpd_restriction_classes") {
		for _, c := range pfList(p.value("smtpd_restriction_classes")) {
			if p.set(c) {
				im.note(c, "a restriction class (smtpd_restriction_classes): none in the filter, whose rules call no list of others; write its restrictions where it is named, by hand"+im.classHolds(c))
			}
		}
		im.note("smtpd_restriction_classes", "none in the filter, whose rules call no list of others")
	}
	for param, what := range pfReplyCodes {
		if p.set(param) && !p.used[param] {
			im.note(param, "the reply code of the filter rules written for "+what+", which no restriction list names")
		}
	}
	for _, c := range []struct {
		param, def, why string
	}{
		{"access_map_reject_code", "554", "fixed: an access rule answers REJECT with 554"},
		{"access_map_defer_code", "450", "fixed: an access rule answers DEFER with 450"},
		{"smtpd_null_access_lookup_key", "<>", "fixed: an access rule looks the null sender up as <>"},
	} {
		switch {
		case !p.set(c.param):
		case strings.TrimSpace(p.value(c.param)) == c.def:
			p.used[c.param] = true
		default:
			im.note(c.param, c.why)
		}
	}
}

// noteUnder records what, a part of param, under param's own line.
func (im *importer) noteUnder(param, what, why string) {
	order := 1 << 30
	if i, ok := im.p.byName[param]; ok {
		order = im.p.params[i].line
	}
	im.notes = append(im.notes, pfNote{order: order, what: what, why: why})
}

// classHolds says which of restriction class name's restrictions (and
// of the classes it names) would have been stages of their own, a
// policy or a verify stage, of which none is written for a class: "" for
// none.
func (im *importer) classHolds(name string) string {
	classes := pfList(im.p.value("smtpd_restriction_classes"))
	var held []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(c string) {
		if seen[c] {
			return
		}
		seen[c] = true
		for _, e := range pfElems(&pfRList{param: c}, im.p.value(c)) {
			switch {
			case e.name == pfPolicyRestriction && e.arg != "":
				held = appendOnce(held, e.orig+" "+e.arg)
			case e.name == pfVerifyRestriction:
				held = appendOnce(held, e.orig)
			case slices.Contains(classes, e.orig):
				walk(e.orig)
			}
		}
	}
	walk(name)
	if len(held) == 0 {
		return ""
	}
	return "; it holds " + strings.Join(held, ", ") + ", for which no policy or verify stage is written either: a stage of its own, by hand"
}
