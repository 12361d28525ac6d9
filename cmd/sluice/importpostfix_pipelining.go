package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// pfForbidPipelining is Postfix's forbid_unauth_pipelining (3.9, and
// backported to 3.5.20–3.8.1 with default no).
const pfForbidPipelining = "smtpd_forbid_unauth_pipelining"

// pfETRNList is smtpd's ETRN restriction list, which no mail passes
// (Sluice has no ETRN) but which may name reject_unauth_pipelining too.
var pfETRNList = pfRList{param: "smtpd_etrn_restrictions", short: "etrn", class: "Etrn command", access: "check_etrn_access"}

// unauthPipelining writes main.cf's smtpd_forbid_unauth_pipelining as the
// top-level forbid_unauth_pipelining. A restriction list's
// reject_unauth_pipelining, which refuses a client that pipelined without
// leave at that list's command, is the same setting in Sluice, which
// refuses it at the command it did not wait after: it writes true, even
// over smtpd_forbid_unauth_pipelining = no, as Postfix still refuses such
// a client's mail then. Neither written: Sluice's default, on, as
// Postfix 3.9's. The lists themselves are listed at the end, as filter
// rules to write by hand.
func (im *importer) unauthPipelining() {
	var lists []string
	for _, l := range append(slices.Clone(pfRLists), pfETRNList) {
		if im.p.set(l.param) && pfNamed(pfElems(&l, im.p.value(l.param)), "reject_unauth_pipelining") {
			lists = append(lists, l.param)
		}
	}
	var from []string
	on, ok := false, false
	if im.p.set(pfForbidPipelining) {
		if on, ok = pfBool(im.p.value(pfForbidPipelining)); ok {
			im.p.used[pfForbidPipelining] = true
			from = append(from, pfForbidPipelining+" = "+im.p.raw(pfForbidPipelining))
		} else {
			im.note(pfForbidPipelining, "not yes or no")
		}
	}
	if len(lists) > 0 {
		from = append(from, "reject_unauth_pipelining in "+strings.Join(lists, ", "))
		on, ok = true, true
	}
	if ok {
		kv(&im.top, strings.Join(from, "; "), "forbid_unauth_pipelining", fmt.Sprint(on))
		return
	}
	fmt.Fprintf(&im.top, "# %s\n", tomlComment(im.pipeliningDefault()))
}

// pfPipeliningSince is the Postfix release whose
// smtpd_forbid_unauth_pipelining defaults to yes; the 3.5.20 to 3.8.1
// backports default to no.
var pfPipeliningSince = [2]int{3, 9}

// pipeliningDefault says, for a main.cf that sets neither
// smtpd_forbid_unauth_pipelining nor reject_unauth_pipelining, what its
// Postfix did and what Sluice's default (forbid_unauth_pipelining, on)
// does: the same from Postfix 3.9 on, a refusal where an earlier one
// served the client. mail_version, when main.cf has it, says which
// Postfix; compatibility_level the oldest it can be.
func (im *importer) pipeliningDefault() string {
	p := im.p
	const sluice = pfForbidPipelining + " not set: Sluice's forbid_unauth_pipelining, on when not written, answers a client that sends commands ahead without PIPELINING 554 5.5.0 and closes"
	const before = ": write forbid_unauth_pipelining = false to serve it as before"
	if v, ok := pfVersion(p.value("mail_version")); p.set("mail_version") && ok {
		if !pfVersionBefore(v, pfPipeliningSince) {
			return sluice + ", as Postfix " + p.value("mail_version") + " (mail_version) does by default"
		}
		return sluice + "; Postfix " + p.value("mail_version") + " (mail_version) defaults to no and serves it" + before
	}
	if v, ok := pfVersion(p.value("compatibility_level")); p.set("compatibility_level") && ok && !pfVersionBefore(v, pfPipeliningSince) {
		return sluice + ", as Postfix 3.9 and later (compatibility_level = " + p.value("compatibility_level") + ") do by default"
	}
	level := ""
	if p.set("compatibility_level") {
		level = " (compatibility_level = " + p.value("compatibility_level") + ": set up on that Postfix or a later one)"
	}
	return sluice + ", as Postfix 3.9 and later do by default; Postfix before 3.9 defaults to no and serves it" + level + before
}

// pfVersion reads a Postfix release or compatibility level: "3.7.11",
// "3.6", "2".
func pfVersion(s string) ([2]int, bool) {
	var v [2]int
	parts := strings.SplitN(strings.TrimSpace(s), ".", 3)
	for i := 0; i < len(parts) && i < 2; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// pfVersionBefore reports whether release v comes before since.
func pfVersionBefore(v, since [2]int) bool {
	return v[0] < since[0] || v[0] == since[0] && v[1] < since[1]
}

// servicePipelining is a service's own -o smtpd_forbid_unauth_pipelining
// and where it came from; own is false without one, or with one that is
// neither yes nor no, which is listed (the listener takes the top-level
// setting).
func (im *importer) servicePipelining(s pfService, where string) (on bool, from string, own bool) {
	raw, own := s.opts[pfForbidPipelining]
	if !own {
		return false, "", false
	}
	value, from := im.smtpdOption(s, pfForbidPipelining)
	if on, ok := pfBool(value); ok {
		return on, from + " = " + value, true
	}
	im.noteAt(fmt.Sprintf("%s -o %s=%s", where, pfForbidPipelining, raw), "not yes or no")
	return false, "", false
}

// pfBool reads a Postfix boolean that must be yes or no.
func pfBool(s string) (on, ok bool) {
	switch v := strings.TrimSpace(s); {
	case strings.EqualFold(v, "yes"):
		return true, true
	case strings.EqualFold(v, "no"):
		return false, true
	}
	return false, false
}
