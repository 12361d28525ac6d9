package main

import (
	"fmt"
	"slices"
	"strconv"
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
		return "normalize", "yes is normalize since Postfix 3.9 (3.8.5, 3.7.10, 3.6.14, 3.5.24); in 3.8.4, 3.7.9, 3.6.13 and 3.5.23 it refused such a client and disconnected: write \"reject\" and bare_newline_reject_code = 521 for that", true
	case "reject":
		return "reject", "", true
	case "no":
		return "normalize", "Sluice takes a bare LF in a message as CRLF, as no did, but ends DATA only at <CR><LF>.<CR><LF>: a client ending it with <LF>.<LF> waits until its timeout", true
	}
	return "", "", false
}

// bareNewline writes main.cf's smtpd_forbid_bare_newline, its reject
// code and its exclusions as the top-level bare_newline,
// bare_newline_reject_code and bare_newline_exclusions. The defaults,
// 550 and $mynetworks (Sluice's relay_networks), are carried by writing
// nothing.
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
		code, ok := pfBareNewlineRejectCode(p.value(pfBareNewlineCode))
		switch {
		case !ok:
			im.note(pfBareNewlineCode, pfBareNewlineCodeWhy)
		case code == 550:
			p.used[pfBareNewlineCode] = true
		default:
			p.used[pfBareNewlineCode] = true
			kv(&im.top, pfBareNewlineCode+" = "+p.raw(pfBareNewlineCode)+pfBareNewlineCodeSays(code), "bare_newline_reject_code", strconv.Itoa(code))
		}
	}
	if p.set(pfBareNewlineExclusions) {
		raw := p.raw(pfBareNewlineExclusions)
		nets, dflt, why := im.bareNewlineExclusions(raw)
		switch {
		case why != "":
			im.note(pfBareNewlineExclusions, why)
		case dflt:
			p.used[pfBareNewlineExclusions] = true
		default:
			p.used[pfBareNewlineExclusions] = true
			kv(&im.top, pfBareNewlineExclusions+" = "+pfShownEmpty(raw), "bare_newline_exclusions", tomlStrs(nets))
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

// pfBareNewlineOwn is what a service's own -o
// smtpd_forbid_bare_newline_reject_code and _exclusions make of its
// listeners' bare_newline_reject_code and bare_newline_exclusions: each
// key's TOML value and comment, "" for a key the service does not set
// (or sets to what import-postfix cannot carry, which is listed), where
// the listener takes the top-level one.
type pfBareNewlineOwn struct {
	code, codeFrom string
	excl, exclFrom string
}

// serviceBareNewlineRule reads s's own -o reject code and exclusions.
// A code is written whatever it is, 550 too; $mynetworks alone is
// written out as the relay_networks the draft has only when main.cf's
// exclusions are other networks, which the listener would otherwise
// take (without them, the listener's relay_networks default is the
// same, and follows a change of relay_networks).
func (im *importer) serviceBareNewlineRule(s pfService, where string) (own pfBareNewlineOwn) {
	if raw, ok := s.opts[pfBareNewlineCode]; ok {
		value, from := im.smtpdOption(s, pfBareNewlineCode)
		if code, ok := pfBareNewlineRejectCode(value); ok {
			own.code, own.codeFrom = strconv.Itoa(code), from+" = "+value+pfBareNewlineCodeSays(code)
		} else {
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, pfBareNewlineCode, raw), pfBareNewlineCodeWhy)
		}
	}
	if raw, ok := s.opts[pfBareNewlineExclusions]; ok {
		_, from := im.smtpdOption(s, pfBareNewlineExclusions) // marks it used
		nets, dflt, why := im.bareNewlineExclusions(raw)
		mainOwn := im.p.set(pfBareNewlineExclusions) && !slices.Contains(pfMynetworks, strings.TrimSpace(im.p.raw(pfBareNewlineExclusions)))
		switch {
		case why != "":
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, pfBareNewlineExclusions, raw), why)
		case dflt && mainOwn:
			own.excl, own.exclFrom = tomlStrs(im.relayNets), from+" = "+raw+" (relay_networks as written above, in place of the top-level bare_newline_exclusions)"
		case dflt:
			// relay_networks: the listener's default
		default:
			own.excl, own.exclFrom = tomlStrs(nets), from+" = "+pfShownEmpty(raw)
		}
	}
	return own
}

// pfBareNewlineCodeWhy is why a reject code is not carried.
const pfBareNewlineCodeWhy = "not a 5XX code (postconf(5)), which bare_newline_reject_code takes"

// pfBareNewlineRejectCode reads a smtpd_forbid_bare_newline_reject_code
// value: a 5XX code, as postconf(5) asks and config takes.
func pfBareNewlineRejectCode(v string) (int, bool) {
	code, err := strconv.Atoi(strings.TrimSpace(v))
	return code, err == nil && code >= 500 && code <= 599
}

// pfBareNewlineCodeSays is what the draft's comment adds to a reject
// code: what a 521 does.
func pfBareNewlineCodeSays(code int) string {
	if code == 521 {
		return ": the connection is closed after the reply, as Postfix closes it"
	}
	return ""
}

// bareNewlineExclusions reads a smtpd_forbid_bare_newline_exclusions
// value, as written, as bare_newline_exclusions: dflt when it is
// $mynetworks alone (Postfix's default, Sluice's relay_networks, which
// the key left out means); otherwise the networks, $mynetworks among
// them standing for relay_networks as the draft writes them, other
// $parameters expanded. Postfix takes mynetworks' syntax there; a list
// with a host name, a file, a table or an !exclusion is not carried,
// whole (why says so): part of it would spare fewer clients than Postfix
// or, with an exclusion dropped, more.
func (im *importer) bareNewlineExclusions(raw string) (nets []string, dflt bool, why string) {
	if slices.Contains(pfMynetworks, strings.TrimSpace(raw)) {
		return nil, true, ""
	}
	nets = []string{} // an empty value spares no one: []
	var bad []string
	for _, e := range pfList(raw) {
		if slices.Contains(pfMynetworks, e) {
			nets = append(nets, im.relayNets...)
			continue
		}
		for _, x := range pfList(im.p.expand(e)) {
			n, ok := pfNetwork(x)
			if !ok {
				bad = append(bad, x)
				continue
			}
			nets = append(nets, n)
		}
	}
	if len(bad) > 0 {
		return nil, false, strings.Join(bad, " ") + ": bare_newline_exclusions takes addresses and CIDR networks only (no host names, files, tables or !exclusions); none carried, write it by hand"
	}
	return nets, false, ""
}

// pfShownEmpty is a value for the draft's comment: an empty one says so.
func pfShownEmpty(v string) string {
	if strings.TrimSpace(v) == "" {
		return "(empty: no client spared)"
	}
	return v
}
