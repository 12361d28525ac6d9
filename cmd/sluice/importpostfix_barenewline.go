package main

import (
	"fmt"
	"slices"
	"strings"
)

// Postfix's bare-newline parameters (3.9; backported to 3.5.23–3.8.4
// with yes and no only).
const (
	pfBareNewline           = "smtpd_forbid_bare_newline"
	pfBareNewlineCode       = "smtpd_forbid_bare_newline_reject_code"
	pfBareNewlineExclusions = "smtpd_forbid_bare_newline_exclusions"
)

// pfBareNewlineMode maps a smtpd_forbid_bare_newline value to Sluice's
// bare_newline, with what the draft's comment adds. "no" has no
// counterpart: Sluice never ends DATA at <LF>.<LF>, so normalize, which
// takes every other bare LF as Postfix's no did, is the nearest. "yes"
// is normalize as Postfix 3.9 reads it, but the releases that brought
// the setting (3.8.4 and its backports) refused and disconnected: the
// comment says so, for a site that set it then.
func pfBareNewlineMode(v string) (mode, why string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "normalize":
		return "normalize", "", true
	case "yes":
		return "normalize", "yes is normalize since Postfix 3.9 (3.8.5, 3.7.10, 3.6.14, 3.5.24); in 3.8.4, 3.7.9, 3.6.13 and 3.5.23 it refused such a client and disconnected: write \"reject\" for that", true
	case "reject":
		return "reject", "", true
	case "no":
		return "normalize", "Sluice takes a bare LF in a message as CRLF, as no did, but ends DATA only at <CR><LF>.<CR><LF>: a client ending it with <LF>.<LF> waits until its timeout", true
	}
	return "", "", false
}

// bareNewline writes main.cf's smtpd_forbid_bare_newline as the
// top-level bare_newline, and says what becomes of its reject code and
// exclusions: Sluice refuses with 550 5.5.2 and spares relay_networks
// ($mynetworks, Postfix's default exclusions) from reject.
func (im *importer) bareNewline() {
	p := im.p
	if p.set(pfBareNewline) {
		if mode, why, ok := pfBareNewlineMode(p.value(pfBareNewline)); ok {
			p.used[pfBareNewline] = true
			from := pfBareNewline + " = " + p.raw(pfBareNewline)
			if why != "" {
				from += ": " + why
			}
			kv(&im.top, from, "bare_newline", tomlStr(mode))
		} else {
			im.note(pfBareNewline, "not normalize, reject, yes or no")
		}
	}
	if p.set(pfBareNewlineCode) {
		if strings.TrimSpace(p.value(pfBareNewlineCode)) == "550" {
			p.used[pfBareNewlineCode] = true
		} else {
			im.note(pfBareNewlineCode, "Sluice refuses a bare newline with 550 5.5.2")
		}
	}
	if p.set(pfBareNewlineExclusions) {
		if slices.Contains(pfMynetworks, strings.TrimSpace(p.raw(pfBareNewlineExclusions))) {
			p.used[pfBareNewlineExclusions] = true
		} else {
			im.note(pfBareNewlineExclusions, "Sluice spares relay_networks (mynetworks) from bare_newline = \"reject\", and no other clients")
		}
	}
}

// serviceBareNewline is a service's own -o smtpd_forbid_bare_newline, as
// the listener's bare_newline; own is false without one, or with a value
// it cannot read, which is listed (the listener takes the top-level
// setting).
func (im *importer) serviceBareNewline(s pfService, where string) (mode, from string, own bool) {
	raw, own := s.opts[pfBareNewline]
	if !own {
		return "", "", false
	}
	value, from := im.smtpdOption(s, pfBareNewline)
	mode, why, ok := pfBareNewlineMode(value)
	if !ok {
		im.noteAt(fmt.Sprintf("%s -o %s=%s", where, pfBareNewline, raw), "not normalize, reject, yes or no")
		return "", "", false
	}
	from += " = " + value
	if why != "" {
		from += ": " + why
	}
	return mode, from, true
}
