package main

import (
	"fmt"
	"slices"
	"strings"
)

// smtpAuthOff says whether an smtp listener of service ps (a service's
// -o, else main.cf's) is to have auth = false: Postfix's SMTP server
// offers AUTH only where smtpd_sasl_auth_enable = yes (postconf(5); no
// by default, as on a stock port 25), while a Sluice smtp listener offers
// it under TLS once [auth] has a user base. Only when the draft has one
// (authWritten): without it no listener offers AUTH anyway. from names
// the setting; a service's own -o is carried either way.
func (im *importer) smtpAuthOff(ps pfService) (off bool, from string) {
	if !im.authWritten {
		return false, ""
	}
	v, own := ps.opts["smtpd_sasl_auth_enable"]
	switch {
	case own:
		ps.used["smtpd_sasl_auth_enable"] = true
		v = im.p.expand(v)
		from = fmt.Sprintf("smtpd_sasl_auth_enable (master.cf %s -o) = %s", ps.name, strings.TrimSpace(v))
	case im.p.set("smtpd_sasl_auth_enable"):
		v = im.p.take("smtpd_sasl_auth_enable")
		from = "smtpd_sasl_auth_enable = " + strings.TrimSpace(v)
	default:
		from = "smtpd_sasl_auth_enable (not set: Postfix's default, no)"
	}
	if pfYes(v) {
		return false, ""
	}
	return true, from + ": Postfix offered no AUTH here, where [auth] would have this listener offer it"
}

// pfSenderLoginChecks are the restrictions that refuse a logged-in
// user a sender smtpd_sender_login_maps does not give it. Postfix's
// reject_unauthenticated_sender_login_mismatch is not one: it refuses
// only clients that did not log in (smtpd_check.c,
// reject_unauth_sender_login_mismatch).
var pfSenderLoginChecks = []string{"reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch", "reject_known_sender_login_mismatch"}

// senderLoginChecks are the pfSenderLoginChecks named in any restriction
// list: main.cf's, a restriction class's, an smtpd service's -o. Where
// it stands in its list is not weighed: one anywhere keeps the draft
// from letting every user send as anyone.
func (im *importer) senderLoginChecks() []string {
	var found []string
	look := func(value string) {
		for _, r := range pfRestrictionList(value) {
			if r = strings.ToLower(r); slices.Contains(pfSenderLoginChecks, r) {
				found = appendOnce(found, r)
			}
		}
	}
	for _, l := range pfRLists {
		look(im.p.value(l.param))
	}
	for _, c := range pfList(im.p.value("smtpd_restriction_classes")) {
		look(im.p.value(c))
	}
	for _, s := range im.p.services {
		if s.command != "smtpd" {
			continue
		}
		for _, l := range pfRLists {
			if v, ok := s.opts[l.param]; ok {
				look(im.p.expand(v))
			}
		}
	}
	return found
}

// senderLoginMaps reports whether smtpd_sender_login_maps is set, in
// main.cf or in an smtpd service's -o.
func (im *importer) senderLoginMaps() bool {
	if strings.TrimSpace(im.p.value("smtpd_sender_login_maps")) != "" {
		return true
	}
	for _, s := range im.p.services {
		if v, ok := s.opts["smtpd_sender_login_maps"]; ok && s.command == "smtpd" && strings.TrimSpace(im.p.expand(v)) != "" {
			return true
		}
	}
	return false
}

// saslOn names where Postfix's SMTP server took logins: main.cf's
// smtpd_sasl_auth_enable = yes, else the first smtpd service whose -o
// says so; "" when none did.
func (im *importer) saslOn() string {
	if pfYes(im.p.value("smtpd_sasl_auth_enable")) {
		return "smtpd_sasl_auth_enable = yes"
	}
	for _, s := range im.p.services {
		if v, ok := s.opts["smtpd_sasl_auth_enable"]; ok && s.command == "smtpd" && pfYes(im.p.expand(v)) {
			return fmt.Sprintf("smtpd_sasl_auth_enable = yes (master.cf %s -o)", s.name)
		}
	}
	return ""
}

// authSenders writes [auth.senders] "*" = ["*"] where Postfix let every
// logged-in user send as anyone: it took logins and no restriction
// checked a user's sender against smtpd_sender_login_maps (none of
// pfSenderLoginChecks, or no map for them to ask: each does nothing
// without one, smtpd_check.c). Sluice allows a user its own name and
// what [auth.senders] lists for it or for "*", every user. With a map
// and a check, nothing is written: the map becomes senders_file by hand
// (pfReasons), reject_known_sender_login_mismatch's leniency for senders
// the map names no owner for included, which "*" cannot give without
// also giving every user the addresses the map protects.
func (im *importer) authSenders() {
	on := im.saslOn()
	if !im.authWritten || on == "" {
		return
	}
	checks := im.senderLoginChecks()
	maps := im.senderLoginMaps()
	const check = "reject_sender_login_mismatch (nor its authenticated or known form)"
	var why string
	switch {
	case maps && len(checks) > 0:
		return
	case maps:
		im.note("smtpd_sender_login_maps", "no "+check+" asks it, so Postfix refused a logged-in user no sender, as [auth.senders] \"*\" = [\"*\"] does: to restrict, write senders_file from it (user: addr, the map's columns swapped) and remove \"*\"")
		why = "smtpd_sender_login_maps but no " + check + " to ask it"
	case len(checks) > 0:
		why = strings.Join(checks, ", ") + " but no smtpd_sender_login_maps, without which Postfix checks nothing"
	default:
		why = "no " + check
	}
	fmt.Fprintf(&im.body, "[auth.senders]\n")
	kv(&im.body, on+", "+why+": Postfix lets every logged-in user send as anyone. Sluice allows a user its own name and what [auth.senders] lists; \"*\" is every user: this keeps Postfix's rule, remove it to restrict (alice = [\"alice@example.org\"])",
		tomlStr("*"), tomlStrs([]string{"*"}))
}
