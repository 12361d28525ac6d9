package main

import (
	"fmt"
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
func (im *importer) restrictionNotes() {
	p := im.p
	for i := range pfRLists {
		l := &pfRLists[i]
		if !p.set(l.param) {
			continue
		}
		elems := pfElems(l, p.value(l.param))
		var carried, policies []string
		written := false
		var below [][2]string
		verifyFirst := true
		for n, e := range elems {
			out := im.restrOut[e.key()]
			switch {
			case e.name == "permit" && n == len(elems)-1:
				// The end of a list lets the rest through anyway.
				out = pfOutcome{}
			case e.name == pfPolicyRestriction:
				if name := im.policyNames[e.key()]; name != "" {
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
				carried = appendOnce(carried, "filter rules in the "+im.filterStage+" stage")
				written = true
			case pfBuiltins[e.name] != "":
				carried = appendOnce(carried, pfBuiltins[e.name])
			}
			if out.noted {
				below = append(below, [2]string{l.param + ": " + e.text, out.why})
			}
		}
		if len(below) == 0 && (written || len(policies) > 0) {
			// Carried whole, and the stages' comments name it.
			p.used[l.param] = true
			continue
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
		why := strings.Join(parts, "; ")
		if why == "" {
			why = "nothing to carry over"
		}
		im.note(l.param, why)
		for _, b := range below {
			im.noteUnder(l.param, b[0], b[1])
		}
	}
	im.restrictionParams()
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
				im.note(c, "a restriction class (smtpd_restriction_classes): none in the filter, whose rules call no list of others; write its restrictions where it is named, by hand")
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
