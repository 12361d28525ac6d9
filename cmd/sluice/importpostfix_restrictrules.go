package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// pfKind is what a restriction becomes.
type pfKind int

const (
	pkNone    pfKind = iota // nothing: listed with why
	pkRule                  // filter rules
	pkPermit                // pass rules, where a rule after it needs one
	pkStage                 // a policy or verify stage
	pkBuiltin               // Sluice's own checks
)

// pfTrans is a restriction's translation.
type pfTrans struct {
	kind   pfKind
	hook   string // pkRule: the rules' hook; "" for the list's (or an access table's before it)
	rules  []pfRuleSpec
	passes bool   // an access table, whose OK ends its hook's rules
	permit string // pkPermit: mynetworks, sasl, authdest, dnswl, rhswl
	ends   bool   // permit, reject, defer: Postfix evaluates nothing after it
	why    string // pkNone, pkBuiltin: why listed; pkRule: how it differs
}

// pfRuleSpec is one filter rule of a restriction.
type pfRuleSpec struct {
	suffix  string // after the element in the rule's name, for a second rule
	comment string // after the element in the rule's comment
	keys    [][2]string
	// spares says what the filter never asks for a relay_networks client
	// or (from mail on) an authenticated session, whatever comes before.
	spares string
}

// pfAccessHooks are the access restrictions the filter's access rules
// are, by the hook whose name or address they look up.
var pfAccessHooks = map[string]string{
	"check_client_access": "connect", "check_helo_access": "helo",
	"check_sender_access": "mail", "check_recipient_access": "rcpt",
}

// pfAccessTypes are the table types an access rule reads.
var pfAccessTypes = []string{"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "cidr", "regexp", "pcre"}

// pfRestrNone says why a restriction the filter has nothing for is not
// carried over.
var pfRestrNone = map[string]string{
	"reject_unknown_helo_hostname":                 "none: the filter does not look the HELO name up in DNS",
	"reject_unknown_hostname":                      "none: the filter does not look the HELO name up in DNS",
	"reject_unknown_reverse_client_hostname":       "none: the filter knows a client's verified name only, not whether its address has a PTR record at all",
	"reject_unverified_sender":                     "none: a verify stage probes recipients only",
	"permit_tls_clientcerts":                       "none: Sluice asks for no client certificate",
	"permit_tls_all_clientcerts":                   "none: Sluice asks for no client certificate",
	"reject_plaintext_session":                     "a listener's tls_required = true (530 5.7.0 before STARTTLS), by hand",
	"permit_inet_interfaces":                       "a pass rule with networks = this host's addresses, by hand",
	"permit_mx_backup":                             "none: a backup MX's domains are relay_domains with a route rule each, by hand",
	"check_relay_domains":                          "Postfix 2's relay check: relay control is built in (relay_networks, AUTH; 554 5.7.1 Relay access denied)",
	"reject_unlisted_sender":                       "none: Sluice does not check a sender in its own domains against their recipients",
	"reject_sender_login_mismatch":                 "[auth] senders or senders_file, written from smtpd_sender_login_maps by hand, refuses an authenticated user's other senders (553 5.7.1); a sender used without AUTH is not refused for its owner",
	"reject_authenticated_sender_login_mismatch":   "[auth] senders or senders_file, written from smtpd_sender_login_maps by hand, refuses an authenticated user's other senders (553 5.7.1)",
	"reject_known_sender_login_mismatch":           "[auth] senders or senders_file, written from smtpd_sender_login_maps by hand, refuses an authenticated user's other senders (553 5.7.1), where Postfix refused only those the map gives another owner: list the unowned ones a user may use too (\"*\" = [\"*\"] would give every user the addresses the map protects); a sender used without AUTH is not refused for its owner",
	"reject_unauthenticated_sender_login_mismatch": "none: a sender used without AUTH is not refused for its owner",
	"permit_naked_ip_address":                      "none (deprecated in Postfix): permit_mynetworks or permit_sasl_authenticated",
	"defer_if_permit":                              "none: a rule's action is its own; DEFER_IF_PERMIT in an access table's value, by hand",
	"defer_if_reject":                              "none: a rule's action is its own; DEFER_IF_REJECT in an access table's value, by hand",
	"sleep":                                        "none: a listener's greet_pause, or the error tarpit ([limits] soft_errors), by hand",
	"reject_maps_rbl":                              "Postfix 2's: a reject_rbl_client for each of maps_rbl_domains, by hand",
	"permit":                                       "ends the list here: the restrictions after it never run",
	"reject":                                       "refuses every client the restrictions before it did not let through: a rule with match = '^' and action = \"reject\" after them, by hand",
	"defer":                                        "defers every client the restrictions before it did not let through: a rule with match = '^' and action = \"tempfail\" after them, by hand",
	"warn_if_reject":                               "nothing follows it",
}

// pfEnds reports whether e ends its list for every client it gets to:
// permit, and reject or defer unless warn_if_reject is before them,
// whose refusal Postfix then only logs, going on down the list
// (smtpd_check.c: smtpd_check_reject returns 0 under warn_if_reject).
func pfEnds(e pfElem) bool {
	return e.name == "permit" || (e.name == "reject" || e.name == "defer") && !e.warn
}

// translate says what restriction e becomes.
func (im *importer) translate(e pfElem) pfTrans {
	switch e.name {
	case "permit_mynetworks":
		if len(im.relayNets) == 0 {
			return pfTrans{why: "mynetworks holds no address or network relay_networks takes (see mynetworks)"}
		}
		return pfTrans{kind: pkPermit, permit: "mynetworks"}
	case "permit_sasl_authenticated":
		return pfTrans{kind: pkPermit, permit: "sasl"}
	case "permit_auth_destination":
		return pfTrans{kind: pkPermit, permit: "authdest"}
	case "permit_dnswl_client", "permit_rhswl_client":
		if e.arg == "" {
			return pfTrans{why: "no zone after it"}
		}
		return pfTrans{kind: pkPermit, permit: map[string]string{"permit_dnswl_client": "dnswl", "permit_rhswl_client": "rhswl"}[e.name]}
	case pfPolicyRestriction:
		if e.arg == "" {
			return pfTrans{why: "no server after it"}
		}
		return pfTrans{kind: pkStage}
	case pfVerifyRestriction:
		return pfTrans{kind: pkStage}
	case "reject_unauth_destination", "reject_unauth_pipelining", "reject_unlisted_recipient", "check_recipient_maps":
		if e.warn {
			return pfTrans{kind: pkBuiltin, why: "warn_if_reject: none, Sluice's own check refuses whatever"}
		}
		return pfTrans{kind: pkBuiltin}
	case "defer_unauth_destination":
		return pfTrans{kind: pkBuiltin, why: "built in, but for good: 554 5.7.1 Relay access denied, where it answers 454 4.7.1"}
	case "permit", "reject", "defer":
		if !pfEnds(e) {
			return pfTrans{why: "warn_if_reject: Postfix logs the refusal and goes on down the list (a rule with match = '^' and action = \"warn\" after the restrictions before it, by hand)"}
		}
		return pfTrans{why: pfRestrNone[e.name], ends: true}
	case "reject_rbl_client", "reject_rbl":
		if e.arg == "" {
			return pfTrans{why: "no zone after it"}
		}
		return im.rblRule(e, "", "dnsbl", "a DNS list")
	case "reject_rhsbl_client", "reject_rhsbl_reverse_client", "reject_rhsbl_helo", "reject_rhsbl_sender", "reject_rhsbl_recipient":
		if e.arg == "" {
			return pfTrans{why: "no zone after it"}
		}
		hook := map[string]string{"reject_rhsbl_client": "connect", "reject_rhsbl_reverse_client": "connect",
			"reject_rhsbl_helo": "helo", "reject_rhsbl_sender": "mail", "reject_rhsbl_recipient": "rcpt"}[e.name]
		t := im.rblRule(e, hook, "rhsbl", "")
		if e.name == "reject_rhsbl_reverse_client" {
			t.why = "the filter asks about the client's verified name only: a name its PTR record gives that does not lead back to its address is not asked about"
		}
		return t
	case "reject_unknown_sender_domain", "reject_unknown_address", "reject_unknown_recipient_domain":
		return im.unknownDomainRule(e)
	case "reject_non_fqdn_sender", "reject_non_fqdn_recipient":
		hook, class := "mail", "Sender address"
		if e.name == "reject_non_fqdn_recipient" {
			hook, class = "rcpt", "Recipient address"
		}
		keys := append([][2]string{{"match", tomlRegex(pfAddressNotFQDN)}}, im.replyKeys(e, "non_fqdn_reject_code", 504, "5.5.2", class+" rejected: need fully-qualified address")...)
		return pfTrans{kind: pkRule, hook: hook, rules: []pfRuleSpec{{keys: keys, comment: " (a domain without a dot, or of digits and dots)"}}}
	case "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname":
		name := append([][2]string{{"match", tomlRegex(pfHeloNameNotFQDN)}}, im.replyKeys(e, "non_fqdn_reject_code", 504, "5.5.2", "Helo command rejected: need fully-qualified hostname")...)
		return pfTrans{kind: pkRule, hook: "helo", rules: []pfRuleSpec{
			{keys: name, comment: " (a name Postfix's valid_hostname refuses, or without a dot)"}, im.heloLiteralRule(e)}}
	case "reject_invalid_helo_hostname", "reject_invalid_hostname":
		name := append([][2]string{{"match", tomlRegex(pfHeloNameInvalid)}}, im.replyKeys(e, "invalid_hostname_reject_code", 501, "5.5.2", "Helo command rejected: Invalid name")...)
		return pfTrans{kind: pkRule, hook: "helo", rules: []pfRuleSpec{
			{keys: name, comment: " (a name Postfix's valid_hostname and valid_hostaddr both refuse)"}, im.heloLiteralRule(e)}}
	case "reject_unknown_client_hostname", "reject_unknown_client":
		keys := append([][2]string{{"match", tomlRegex("^$")}}, im.replyKeys(e, "unknown_client_reject_code", 450, "4.7.25", "Client host rejected: cannot find your hostname")...)
		t := pfTrans{kind: pkRule, hook: "connect", rules: []pfRuleSpec{{keys: keys, comment: " (no verified name: \"\" at connect)"}}}
		if code, _ := im.replyCode("unknown_client_reject_code", 450); code >= 500 && !e.warn {
			t.why = fmt.Sprintf("a client whose name could not be looked up for now gets %d too, where Postfix answers 450", code)
		}
		return t
	case "reject_multi_recipient_bounce":
		keys := append([][2]string{{"min_recipients", "2"}, {"match", tomlRegex("^$")}},
			im.replyKeys(e, "multi_recipient_bounce_reject_code", 550, "5.5.3", e.list.class+" rejected: Multi-recipient bounce")...)
		t := pfTrans{kind: pkRule, hook: "envelope", rules: []pfRuleSpec{{keys: keys, comment: " (the null sender, two recipients or more)"}}}
		if e.list.hook != "envelope" {
			t.why = "the filter refuses the whole message at the data hook, where Postfix refuses the second recipient on and delivers to the first"
		}
		return t
	}
	if strings.HasPrefix(e.name, "check_") && strings.HasSuffix(e.name, "_access") {
		return im.accessRule(e)
	}
	if why, ok := pfRestrNone[e.name]; ok {
		return pfTrans{why: why}
	}
	if strings.Contains(e.name, ":") {
		return pfTrans{why: "a table with no check_*_access before it, which this list has none for by default: Postfix answers 451 4.3.5 Server configuration error"}
	}
	if slices.Contains(pfList(im.p.value("smtpd_restriction_classes")), e.orig) {
		return pfTrans{why: "a restriction class: none in the filter, whose rules call no list of others; write its restrictions where it is named, by hand" + im.classHolds(e.orig)}
	}
	return pfTrans{why: "not a restriction smtpd knows, nor a class of smtpd_restriction_classes"}
}

// heloLiteralRule is the rule for a HELO address literal, which both
// HELO name checks refuse with reject_invalid_hostaddr's reply.
func (im *importer) heloLiteralRule(e pfElem) pfRuleSpec {
	keys := append([][2]string{{"match", tomlRegex(pfHeloLiteralInvalid)}}, im.replyKeys(e, "invalid_hostname_reject_code", 501, "5.5.2", "Helo command rejected: invalid ip address")...)
	return pfRuleSpec{suffix: " (address literal)", comment: ": an address literal Postfix's valid_mailhost_addr refuses", keys: keys}
}

// rblRule is a DNS list rule: key (dnsbl or rhsbl) with the zone, the
// reply maps_rbl_reject_code's code; the text is the filter's, which
// names the client or domain and the list as default_rbl_reply does.
func (im *importer) rblRule(e pfElem, hook, key, spares string) pfTrans {
	keys := append([][2]string{{key, tomlStrs([]string{e.arg})}}, im.replyKeys(e, "maps_rbl_reject_code", 554, "", "")...)
	comment := " (the reply names the client and the list, as default_rbl_reply does)"
	switch {
	case e.warn:
		comment = ""
	case key == "rhsbl":
		comment = " (the reply names the domain and the list, as default_rbl_reply does)"
	}
	return pfTrans{kind: pkRule, hook: hook, rules: []pfRuleSpec{{keys: keys, spares: spares, comment: comment}}}
}

// unknownDomainRule is reject_unknown_sender_domain's or
// reject_unknown_recipient_domain's unknown_domain rule, answering
// unknown_address_reject_code: 550 is the filter's own reply (a null MX
// domain's 550 5.7.27 or 556 5.1.10 as Postfix's), any other code
// answers a null MX domain too.
func (im *importer) unknownDomainRule(e pfElem) pfTrans {
	hook, spares := "mail", "about the sender's domain"
	if e.name == "reject_unknown_recipient_domain" {
		hook, spares = "rcpt", ""
	}
	code, _ := im.replyCode("unknown_address_reject_code", 450)
	var keys [][2]string
	switch {
	case e.warn:
		keys = im.replyKeys(e, "unknown_address_reject_code", 450, "", "")
	case code == 550:
		im.p.used["unknown_address_reject_code"] = true
		keys = [][2]string{{"action", tomlStr("reject")}}
	default:
		keys = im.replyKeys(e, "unknown_address_reject_code", 450, "", "")
	}
	t := pfTrans{kind: pkRule, hook: hook, rules: []pfRuleSpec{{keys: append([][2]string{{"unknown_domain", "true"}}, keys...), spares: spares}}}
	var diffs []string
	if code != 550 && !e.warn {
		diffs = append(diffs, fmt.Sprintf("a null MX domain gets %d too, where Postfix answers %s", code, map[bool]string{true: "550 5.7.27", false: "556 5.1.10"}[hook == "mail"]))
	}
	// reject_unknown_address skips a domain this host delivers itself
	// (RESOLVE_CLASS_FINAL), a sender's as a recipient's.
	diffs = append(diffs, "a look-up that fails lets the mail through, where Postfix answers 450",
		"the filter asks about this host's own domains too, which Postfix does not")
	t.why = strings.Join(diffs, "; ")
	return t
}

// accessRule is check_client_access, check_helo_access,
// check_sender_access or check_recipient_access with a table the filter
// reads; the other access restrictions are listed.
func (im *importer) accessRule(e pfElem) pfTrans {
	hook, ok := pfAccessHooks[e.name]
	switch {
	case e.name == "check_reverse_client_access":
		return pfTrans{why: "none: the filter knows a client's verified name only, not the name its address's PTR record gives"}
	case e.name == "check_ccert_access":
		return pfTrans{why: "none: Sluice asks for no client certificate"}
	case e.name == "check_sasl_access":
		return pfTrans{why: "none: the filter looks up no AUTH login"}
	case !ok && (strings.HasSuffix(e.name, "_mx_access") || strings.HasSuffix(e.name, "_ns_access") || strings.HasSuffix(e.name, "_a_access")):
		return pfTrans{why: "none: the filter looks up a name or address itself, not its MX, NS or A hosts"}
	case !ok:
		return pfTrans{why: "none in the filter"}
	case e.arg == "":
		return pfTrans{why: "no table after it"}
	case e.warn:
		return pfTrans{why: "warn_if_reject: an access rule's actions are its table's values: WARN in them, by hand"}
	}
	typ, _, found := strings.Cut(strings.TrimPrefix(e.arg, "proxy:"), ":")
	if !found || !slices.Contains(pfAccessTypes, typ) {
		return pfTrans{why: "a " + typ + ": table: an access rule reads hash, btree, lmdb, cdb, dbm, sdbm and texthash tables' source files, cidr, regexp and pcre tables"}
	}
	keys := [][2]string{{"access", tomlStr(e.arg)}}
	return pfTrans{kind: pkRule, hook: hook, rules: []pfRuleSpec{{keys: keys}}, passes: true}
}

// replyCode is a reply code parameter's value, or def when it is not
// a 4xx or 5xx code (ok false).
func (im *importer) replyCode(param string, def int) (code int, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(im.p.value(param)))
	if err != nil || n < 400 || n > 599 {
		return def, false
	}
	return n, true
}

// replyKeys are a rule's action and reply: warn with warn_if_reject
// before it (no reply of its own); else reject or tempfail with the
// code of param (def when it is no 4xx or 5xx code, which is noted
// once), enhanced with the code's class ("" for the filter's own) and
// text ("" for the filter's own). param becomes carried.
func (im *importer) replyKeys(e pfElem, param string, def int, enhanced, text string) [][2]string {
	if e.warn {
		return [][2]string{{"action", tomlStr("warn")}}
	}
	code, ok := im.replyCode(param, def)
	if im.p.set(param) {
		if ok {
			im.p.used[param] = true
		} else if !im.p.used[param] {
			im.note(param, "not a 4xx or 5xx code: Postfix's default, "+strconv.Itoa(def))
		}
	}
	action := "reject"
	if code < 500 {
		action = "tempfail"
	}
	keys := [][2]string{{"action", tomlStr(action)}, {"code", strconv.Itoa(code)}}
	if enhanced != "" {
		keys = append(keys, [2]string{"enhanced", tomlStr(strconv.Itoa(code/100) + enhanced[1:])})
	}
	if text != "" {
		keys = append(keys, [2]string{"text", tomlStr(text)})
	}
	return keys
}

// tomlRegex is a regular expression as a TOML literal string, which
// keeps its backslashes as written, or a basic string when it cannot be
// one.
func tomlRegex(re string) string {
	if strings.ContainsAny(re, "'\n\r") {
		return tomlStr(re)
	}
	for _, r := range re {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return tomlStr(re)
		}
	}
	return "'" + re + "'"
}
