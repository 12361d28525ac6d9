package main

import (
	"fmt"
	"slices"
	"strings"
)

// pfForbidPipelining is Postfix's forbid_unauth_pipelining (3.9, and
// backported to 3.5.20–3.8.1 with default no).
const pfForbidPipelining = "smtpd_forbid_unauth_pipelining"

// pfRestrictionLists are the smtpd restriction lists reject_unauth_pipelining
// may be named in.
var pfRestrictionLists = []string{
	"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
	"smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions",
	"smtpd_end_of_data_restrictions", "smtpd_etrn_restrictions",
}

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
	for _, prm := range pfRestrictionLists {
		if im.p.set(prm) && slices.Contains(pfList(im.p.value(prm)), "reject_unauth_pipelining") {
			lists = append(lists, prm)
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
	}
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
