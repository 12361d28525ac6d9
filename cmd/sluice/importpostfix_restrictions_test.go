package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// restrictionsOf imports a Postfix directory whose main.cf is mainCF
// and returns the draft, its stages' names in order and the rules of
// its filter stage.
func restrictionsOf(t *testing.T, mainCF string, files map[string]string) (string, []string, []map[string]any) {
	t.Helper()
	all := map[string]string{"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\n" + mainCF,
		"master.cf": "smtp inet n - y - - smtpd\n"}
	for k, v := range files {
		all[k] = v
	}
	out, err := importPostfix(writePostfix(t, "postfix", all), "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	var names []string
	var rules []map[string]any
	for _, s := range cfg.Stages {
		names = append(names, s.Name)
		if s.Plugin != "filter" {
			continue
		}
		rs, _ := s.Config["rules"].([]any)
		for _, r := range rs {
			rules = append(rules, r.(map[string]any))
		}
	}
	return out, names, rules
}

// ruleNamed returns the rule named name, or nil.
func ruleNamed(rules []map[string]any, name string) map[string]any {
	for _, r := range rules {
		if r["name"] == name {
			return r
		}
	}
	return nil
}

// checkConfigPasses writes the draft, with a closed loopback DNS server
// (never the system resolver), and runs sluice check-config over it:
// the filter plugin compiles every rule and reads every table.
func checkConfigPasses(t *testing.T, out string) {
	t.Helper()
	checkConfigOutput(t, out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n")
}

// checkConfigOutput runs sluice check-config on the config text, which
// must pass, and returns what it prints (its warnings among it).
func checkConfigOutput(t *testing.T, text string) string {
	t.Helper()
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the first-party plugins: this test binary as sluice
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("check-config: exit %d: %s%s\n%s", code, stderr.String(), stdout.String(), text)
	}
	return stdout.String()
}

// A site's typical restriction lists become one filter stage, first in
// the pipeline and before the policy stage of the same list: each
// check in its list's order under a comment naming it, a pass rule for
// permit_mynetworks before the checks after it at each hook, the access
// tables as access rules, the DNS lists with Postfix's 554, the
// unknown-domain checks with its 450; what cannot be carried is listed
// with why; and the draft passes check-config.
func TestImportPostfixRestrictions(t *testing.T) {
	tables := t.TempDir()
	files := map[string]string{
		"client_access.cidr":    "192.0.2.66 REJECT\n10.0.0.0/8 OK\n",
		"helo_access":           "bad.example REJECT\n",
		"sender_access":         "spam.example REJECT\n",
		"recipient_access.pcre": "/^postmaster@/ OK\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(tables, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, names, rules := restrictionsOf(t, "recipient_delimiter = +\n"+
		"smtpd_client_restrictions = permit_mynetworks, check_client_access cidr:"+tables+"/client_access.cidr,\n"+
		"    reject_rbl_client zen.spamhaus.org, reject_unknown_client_hostname\n"+
		"smtpd_helo_restrictions = permit_mynetworks, check_helo_access hash:"+tables+"/helo_access,\n"+
		"    reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname\n"+
		"smtpd_sender_restrictions = permit_mynetworks, check_sender_access hash:"+tables+"/sender_access,\n"+
		"    reject_non_fqdn_sender, reject_unknown_sender_domain\n"+
		"smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n"+
		"smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination,\n"+
		"    check_recipient_access pcre:"+tables+"/recipient_access.pcre, reject_non_fqdn_recipient,\n"+
		"    reject_rbl_client zen.spamhaus.org, check_policy_service inet:127.0.0.1:10023\n"+
		"smtpd_data_restrictions = reject_unauth_pipelining, reject_multi_recipient_bounce\n", nil)
	if !slices.Equal(names, []string{"restrictions", "policy"}) {
		t.Errorf("stages %q, want the filter stage before the policy stage", names)
	}
	nets := []any{"192.0.2.0/24"}
	want := []map[string]any{
		{"name": "client: permit_mynetworks", "hook": "connect", "networks": nets, "action": "pass"},
		{"name": "client: check_client_access cidr:" + tables + "/client_access.cidr", "hook": "connect", "access": "cidr:" + tables + "/client_access.cidr"},
		{"name": "client: reject_rbl_client zen.spamhaus.org", "hook": "connect", "dnsbl": []any{"zen.spamhaus.org"}, "action": "reject", "code": int64(554)},
		{"name": "client: reject_unknown_client_hostname", "hook": "connect", "match": "^$", "action": "tempfail", "code": int64(450),
			"enhanced": "4.7.25", "text": "Client host rejected: cannot find your hostname"},
		{"name": "helo: permit_mynetworks", "hook": "helo", "networks": nets, "action": "pass"},
		{"name": "helo: check_helo_access hash:" + tables + "/helo_access", "hook": "helo", "access": "hash:" + tables + "/helo_access"},
		{"name": "helo: reject_invalid_helo_hostname", "hook": "helo", "match": pfHeloNameInvalid, "action": "reject", "code": int64(501),
			"enhanced": "5.5.2", "text": "Helo command rejected: Invalid name"},
		{"name": "helo: reject_invalid_helo_hostname (address literal)", "hook": "helo", "match": pfHeloLiteralInvalid, "action": "reject",
			"code": int64(501), "enhanced": "5.5.2", "text": "Helo command rejected: invalid ip address"},
		{"name": "helo: reject_non_fqdn_helo_hostname", "hook": "helo", "match": pfHeloNameNotFQDN, "action": "reject", "code": int64(504),
			"enhanced": "5.5.2", "text": "Helo command rejected: need fully-qualified hostname"},
		{"name": "helo: reject_non_fqdn_helo_hostname (address literal)", "hook": "helo", "match": pfHeloLiteralInvalid, "action": "reject",
			"code": int64(501), "enhanced": "5.5.2", "text": "Helo command rejected: invalid ip address"},
		{"name": "sender: permit_mynetworks", "hook": "mail", "networks": nets, "action": "pass"},
		{"name": "sender: check_sender_access hash:" + tables + "/sender_access", "hook": "mail", "access": "hash:" + tables + "/sender_access"},
		{"name": "sender: reject_non_fqdn_sender", "hook": "mail", "match": pfAddressNotFQDN, "action": "reject", "code": int64(504),
			"enhanced": "5.5.2", "text": "Sender address rejected: need fully-qualified address"},
		{"name": "sender: reject_unknown_sender_domain", "hook": "mail", "unknown_domain": true, "action": "tempfail", "code": int64(450)},
		{"name": "recipient: permit_mynetworks", "hook": "rcpt", "networks": nets, "action": "pass"},
		{"name": "recipient: permit_sasl_authenticated", "hook": "rcpt", "authenticated": true, "action": "pass"},
		{"name": "recipient: check_recipient_access pcre:" + tables + "/recipient_access.pcre", "hook": "rcpt", "access": "pcre:" + tables + "/recipient_access.pcre"},
		{"name": "recipient: reject_non_fqdn_recipient", "hook": "rcpt", "match": pfAddressNotFQDN, "action": "reject", "code": int64(504),
			"enhanced": "5.5.2", "text": "Recipient address rejected: need fully-qualified address"},
		{"name": "recipient: reject_rbl_client zen.spamhaus.org", "hook": "rcpt", "dnsbl": []any{"zen.spamhaus.org"}, "action": "reject", "code": int64(554)},
		{"name": "data: reject_multi_recipient_bounce", "hook": "envelope", "min_recipients": int64(2), "match": "^$", "action": "reject",
			"code": int64(550), "enhanced": "5.5.3", "text": "Data command rejected: Multi-recipient bounce"},
	}
	if !reflect.DeepEqual(rules, want) {
		for i := range max(len(rules), len(want)) {
			var g, w map[string]any
			if i < len(rules) {
				g = rules[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("rule %d:\n got %v\nwant %v", i, g, w)
			}
		}
		t.Fatalf("draft:\n%s", out)
	}
	for _, l := range []string{
		"# smtpd_client_restrictions: reject_rbl_client zen.spamhaus.org (the reply names the client and the list, as default_rbl_reply does)\nname = ",
		"[stage.config]\n# recipient_delimiter, for the access tables' user+extension@ keys\ndetail_separator = \"+\"\n",
		"#   smtpd_recipient_restrictions: check_policy_service inet:127.0.0.1:10023\n#       an OK from check_recipient_access pcre:" + tables + "/recipient_access.pcre before it does not spare the stage\n",
		"#   smtpd_sender_restrictions: reject_unknown_sender_domain\n#       a null MX domain gets 450 too, where Postfix answers 550 5.7.27; a look-up that fails lets the mail through, where Postfix answers 450; " +
			"the filter asks about this host's own domains too, which Postfix does not; " +
			"the filter never asks about the sender's domain for an authenticated session; Postfix does here, with no permit_sasl_authenticated before it\n",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	// permit_mynetworks is before the client list's DNS list, and at
	// connect no session has authenticated: nothing to say; the pass
	// rule on authenticated = true is permit_sasl_authenticated.
	for _, l := range []string{"#   smtpd_client_restrictions: reject_rbl_client", "#   smtpd_recipient_restrictions: permit_sasl_authenticated"} {
		if strings.Contains(out, l) {
			t.Errorf("draft has %q:\n%s", l, out)
		}
	}
	listed := notCarried(t, out)
	for _, p := range []string{"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_data_restrictions", "recipient_delimiter"} {
		if slices.Contains(listed, p) {
			t.Errorf("%s carried whole, but listed: %q", p, listed)
		}
	}
	if !slices.Contains(listed, "smtpd_relay_restrictions") {
		t.Errorf("smtpd_relay_restrictions, built in only, is not listed: %q", listed)
	}
	checkConfigPasses(t, out)
}

// Each restriction becomes what the filter has for it, at the hook of
// what it looks at, and what has no counterpart is listed with why.
func TestImportPostfixRestrictionMappings(t *testing.T) {
	for _, c := range []struct {
		name, mainCF string
		rules        []map[string]any // by name; each key checked
		listed       []string         // "what\n#       why" in the draft's list
		absent       []string         // rule names not written
		text, notext []string         // in the draft, and not
	}{
		{name: "stage settings",
			mainCF: "parent_domain_matches_subdomains = relay_domains\nrecipient_delimiter = -\n" +
				"maps_rbl_reject_code = 450\naccess_map_reject_code = 550\naccess_map_defer_code = 450\n" +
				"smtpd_client_restrictions = check_client_access hash:/etc/postfix/c\n",
			text:   []string{"[stage.config]\n# parent_domain_matches_subdomains without smtpd_access_maps: a domain key matches that domain alone, .domain its subdomains\naccess_parent_domains = false\n"},
			notext: []string{"\ndetail_separator", "#   access_map_defer_code"}, // no access rule at mail or rcpt; the default
			listed: []string{"recipient_delimiter = -\n#       the route stage's detail_separator; no route stage was needed here",
				"maps_rbl_reject_code = 450\n#       the reply code of the filter rules written for reject_rbl_client and reject_rhsbl_*, which no restriction list names",
				"access_map_reject_code = 550\n#       fixed: an access rule answers REJECT with 554"}},
		{name: "mynetworks that relay_networks cannot take",
			mainCF: "mynetworks = mail.example.org\nsmtpd_recipient_restrictions = permit_mynetworks, reject_non_fqdn_recipient\n",
			absent: []string{"recipient: permit_mynetworks"},
			listed: []string{"smtpd_recipient_restrictions: permit_mynetworks\n#       mynetworks holds no address or network relay_networks takes"}},
		{name: "implicit tables and the access kinds",
			mainCF: "smtpd_sender_restrictions = hash:/etc/postfix/senders, check_client_mx_access hash:/etc/postfix/mx,\n" +
				"    check_reverse_client_access hash:/etc/postfix/rev, check_recipient_access ldap:/etc/postfix/ldap.cf,\n" +
				"    check_ccert_access hash:/etc/postfix/certs, check_sasl_access hash:/etc/postfix/sasl\n" +
				"smtpd_data_restrictions = hash:/etc/postfix/data\n",
			rules: []map[string]any{{"name": "sender: hash:/etc/postfix/senders", "hook": "mail", "access": "hash:/etc/postfix/senders"}},
			listed: []string{
				"smtpd_sender_restrictions: check_client_mx_access hash:/etc/postfix/mx\n#       none: the filter looks up a name or address itself, not its MX, NS or A hosts",
				"smtpd_sender_restrictions: check_reverse_client_access hash:/etc/postfix/rev\n#       none: the filter knows a client's verified name only",
				"smtpd_sender_restrictions: check_recipient_access ldap:/etc/postfix/ldap.cf\n#       a ldap: table: an access rule reads",
				"smtpd_sender_restrictions: check_ccert_access hash:/etc/postfix/certs\n#       none: Sluice asks for no client certificate",
				"smtpd_sender_restrictions: check_sasl_access hash:/etc/postfix/sasl\n#       none: the filter looks up no AUTH login",
				"smtpd_data_restrictions: hash:/etc/postfix/data\n#       a table with no check_*_access before it",
			}},
		{name: "DNS lists",
			mainCF: "maps_rbl_reject_code = 450\n" +
				"smtpd_client_restrictions = reject_rbl_client zen.spamhaus.org=127.0.0.[2..11], reject_rhsbl_client dbl.example,\n" +
				"    reject_rhsbl_reverse_client rev.example\n" +
				"smtpd_helo_restrictions = reject_rhsbl_helo helo.example\n" +
				"smtpd_recipient_restrictions = permit_dnswl_client list.dnswl.org, reject_rhsbl_sender dbl.spamhaus.org,\n" +
				"    reject_rhsbl_recipient rcpt.example, warn_if_reject reject_rbl_client bl.example\n",
			rules: []map[string]any{
				{"name": "client: reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]", "hook": "connect", "dnsbl": []any{"zen.spamhaus.org=127.0.0.[2..11]"}, "action": "tempfail", "code": int64(450)},
				{"name": "client: reject_rhsbl_client dbl.example", "hook": "connect", "rhsbl": []any{"dbl.example"}, "action": "tempfail", "code": int64(450)},
				{"name": "client: reject_rhsbl_reverse_client rev.example", "hook": "connect", "rhsbl": []any{"rev.example"}},
				{"name": "helo: reject_rhsbl_helo helo.example", "hook": "helo", "rhsbl": []any{"helo.example"}},
				{"name": "recipient: permit_dnswl_client list.dnswl.org (at mail)", "hook": "mail", "dnsbl": []any{"list.dnswl.org"}, "action": "pass"},
				{"name": "recipient: reject_rhsbl_sender dbl.spamhaus.org (at mail)", "hook": "mail", "rhsbl": []any{"dbl.spamhaus.org"}},
				{"name": "recipient: permit_dnswl_client list.dnswl.org", "hook": "rcpt", "dnsbl": []any{"list.dnswl.org"}, "action": "pass"},
				{"name": "recipient: reject_rhsbl_recipient rcpt.example", "hook": "rcpt", "rhsbl": []any{"rcpt.example"}},
				{"name": "recipient: warn_if_reject reject_rbl_client bl.example", "hook": "rcpt", "dnsbl": []any{"bl.example"}, "action": "warn", "code": nil},
			},
			listed: []string{"smtpd_client_restrictions: reject_rhsbl_reverse_client rev.example\n#       the filter asks about the client's verified name only"}},
		{name: "unknown domains, 550",
			mainCF: "unknown_address_reject_code = 550\n" +
				"smtpd_recipient_restrictions = reject_unknown_sender_domain, reject_unknown_recipient_domain\n",
			rules: []map[string]any{
				{"name": "recipient: reject_unknown_sender_domain (at mail)", "hook": "mail", "unknown_domain": true, "action": "reject", "code": nil},
				{"name": "recipient: reject_unknown_recipient_domain", "hook": "rcpt", "unknown_domain": true, "action": "reject", "code": nil},
			},
			listed: []string{"smtpd_recipient_restrictions: reject_unknown_recipient_domain\n#       a look-up that fails lets the mail through, where Postfix answers 450; the filter asks about this host's own domains too"}},
		{name: "permit_mynetworks where the checks after it go",
			mainCF: "smtpd_recipient_restrictions = permit_mynetworks, reject_non_fqdn_sender, reject_non_fqdn_helo_hostname,\n" +
				"    reject_rbl_client zen.spamhaus.org, reject_non_fqdn_recipient\n",
			rules: []map[string]any{
				{"name": "recipient: permit_mynetworks (at mail)", "hook": "mail", "networks": []any{"192.0.2.0/24"}, "action": "pass"},
				{"name": "recipient: reject_non_fqdn_sender (at mail)", "hook": "mail"},
				{"name": "recipient: permit_mynetworks (at helo)", "hook": "helo", "action": "pass"},
				{"name": "recipient: reject_non_fqdn_helo_hostname (at helo)", "hook": "helo"},
				{"name": "recipient: reject_rbl_client zen.spamhaus.org", "hook": "rcpt"},
				{"name": "recipient: permit_mynetworks", "hook": "rcpt", "action": "pass"},
				{"name": "recipient: reject_non_fqdn_recipient", "hook": "rcpt"},
			}},
		{name: "a DNS list after a client table goes where the table is",
			mainCF: "smtpd_recipient_restrictions = check_client_access cidr:/etc/postfix/rbl_override, reject_rbl_client zen.spamhaus.org\n",
			rules: []map[string]any{
				{"name": "recipient: check_client_access cidr:/etc/postfix/rbl_override (at connect)", "hook": "connect"},
				{"name": "recipient: reject_rbl_client zen.spamhaus.org (at connect)", "hook": "connect", "dnsbl": []any{"zen.spamhaus.org"}},
			}},
		{name: "codes and a multi-recipient bounce at RCPT",
			mainCF: "non_fqdn_reject_code = 450\ninvalid_hostname_reject_code = 550\nunknown_client_reject_code = 550\nmulti_recipient_bounce_reject_code = 554\n" +
				"smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_invalid_helo_hostname, reject_unknown_client,\n" +
				"    reject_multi_recipient_bounce\n",
			rules: []map[string]any{
				{"name": "recipient: reject_non_fqdn_recipient", "action": "tempfail", "code": int64(450), "enhanced": "4.5.2"},
				{"name": "recipient: reject_invalid_helo_hostname (at helo)", "code": int64(550), "enhanced": "5.5.2"},
				{"name": "recipient: reject_unknown_client (at connect)", "action": "reject", "code": int64(550), "enhanced": "5.7.25"},
				{"name": "recipient: reject_multi_recipient_bounce (at envelope)", "hook": "envelope", "code": int64(554),
					"text": "Recipient address rejected: Multi-recipient bounce"},
			},
			listed: []string{
				"smtpd_recipient_restrictions: reject_unknown_client\n#       a client whose name could not be looked up for now gets 550 too, where Postfix answers 450",
				"smtpd_recipient_restrictions: reject_multi_recipient_bounce\n#       the filter refuses the whole message at the data hook",
			}},
		{name: "built in, statics, classes",
			mainCF: "smtpd_restriction_classes = from_friends\nfrom_friends = check_sender_access hash:/etc/postfix/friends, reject\n" +
				"smtpd_relay_restrictions = permit_mynetworks, defer_unauth_destination\n" +
				"smtpd_recipient_restrictions = reject_unauth_destination, reject_unlisted_recipient, reject_unauth_pipelining,\n" +
				"    reject_unlisted_sender, reject_sender_login_mismatch, reject_unknown_helo_hostname, from_friends,\n" +
				"    frobnicate, sleep 1, permit_inet_interfaces, permit, reject_non_fqdn_recipient\n" +
				"smtpd_client_restrictions = permit_mynetworks, reject\n",
			absent: []string{"recipient: reject_non_fqdn_recipient"},
			listed: []string{
				"smtpd_relay_restrictions: defer_unauth_destination\n#       built in, but for good: 554 5.7.1 Relay access denied, where it answers 454 4.7.1",
				"smtpd_recipient_restrictions: reject_unlisted_sender\n#       none: Sluice does not check a sender",
				"smtpd_recipient_restrictions: reject_sender_login_mismatch\n#       [auth] senders or senders_file",
				"smtpd_recipient_restrictions: reject_unknown_helo_hostname\n#       none: the filter does not look the HELO name up in DNS",
				"smtpd_recipient_restrictions: from_friends\n#       a restriction class: none in the filter",
				"smtpd_recipient_restrictions: frobnicate\n#       not a restriction smtpd knows",
				"smtpd_recipient_restrictions: sleep 1\n#       none: a listener's greet_pause",
				"smtpd_recipient_restrictions: permit\n#       ends the list here",
				"smtpd_recipient_restrictions: reject_non_fqdn_recipient\n#       after permit: Postfix never gets to it",
				"smtpd_client_restrictions: reject\n#       refuses every client the restrictions before it did not let through",
				"from_friends = check_sender_access hash:/etc/postfix/friends, reject\n#       a restriction class (smtpd_restriction_classes)",
				"smtpd_restriction_classes = from_friends\n#       none in the filter",
			}},
		{name: "passes of one list over another's rules",
			mainCF: "smtpd_relay_restrictions = check_recipient_access hash:/etc/postfix/relay_ok, reject_unauth_destination\n" +
				"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10023, reject_non_fqdn_recipient\n",
			rules: []map[string]any{{"name": "relay: check_recipient_access hash:/etc/postfix/relay_ok", "hook": "rcpt"}},
			listed: []string{"smtpd_recipient_restrictions: reject_non_fqdn_recipient\n#       after check_policy_service inet:127.0.0.1:10023, whose OK ends the list in Postfix: the filter asks it before that policy stage; " +
				"an OK from check_recipient_access hash:/etc/postfix/relay_ok of smtpd_relay_restrictions ends the filter's rcpt rules, this one's too, where Postfix ends that list only"}},
		{name: "permit_sasl_authenticated: a pass rule from mail on",
			mainCF: "smtpd_sender_restrictions = permit_sasl_authenticated, check_sender_access hash:/etc/postfix/own_domains\n" +
				"smtpd_helo_restrictions = permit_sasl_authenticated, reject_non_fqdn_helo_hostname\n" +
				"smtpd_recipient_restrictions = permit_sasl_authenticated, reject_rbl_client zen.spamhaus.org, reject_unknown_recipient_domain\n" +
				"smtpd_data_restrictions = permit_sasl_authenticated, reject_multi_recipient_bounce\n",
			rules: []map[string]any{
				{"name": "sender: permit_sasl_authenticated", "hook": "mail", "authenticated": true, "action": "pass"},
				{"name": "sender: check_sender_access hash:/etc/postfix/own_domains", "hook": "mail"},
				{"name": "recipient: permit_sasl_authenticated", "hook": "rcpt", "authenticated": true, "action": "pass"},
				{"name": "recipient: reject_unknown_recipient_domain", "hook": "rcpt"},
				{"name": "data: permit_sasl_authenticated", "hook": "envelope", "min_recipients": int64(1), "authenticated": true, "action": "pass"},
				{"name": "helo: reject_non_fqdn_helo_hostname", "hook": "helo"},
			},
			// The DNS list, the first rule after it at rcpt, needs none:
			// the filter asks it for no authenticated session.
			absent: []string{"helo: permit_sasl_authenticated", "recipient: permit_sasl_authenticated (2)"},
			listed: []string{"smtpd_helo_restrictions: permit_sasl_authenticated\n#       the filter's connect and helo rules run before AUTH, " +
				"so these after it refuse an authenticated session too, which Postfix, asking the list after AUTH, lets through " +
				"(a pass rule on authenticated = true spares one the rules at mail and after): reject_non_fqdn_helo_hostname\n"},
			notext: []string{"#   smtpd_sender_restrictions: permit_sasl_authenticated", "#   smtpd_recipient_restrictions: permit_sasl_authenticated",
				"#   smtpd_data_restrictions", "#   smtpd_sender_restrictions = "}},
		{name: "a client DNS list after permit_sasl_authenticated goes to mail",
			mainCF: "smtpd_client_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_rbl_client zen.spamhaus.org\n" +
				"smtpd_helo_restrictions = permit_sasl_authenticated, check_client_access cidr:/etc/postfix/rbl_override, reject_rbl_client bl.example\n",
			// Postfix asks the list at RCPT, after AUTH; the filter asks
			// no DNS list for an authenticated session from mail on. An
			// rbl_override table before it keeps it at its own hook.
			rules: []map[string]any{
				{"name": "client: reject_rbl_client zen.spamhaus.org (at mail)", "hook": "mail", "dnsbl": []any{"zen.spamhaus.org"}},
				{"name": "helo: reject_rbl_client bl.example (at connect)", "hook": "connect", "dnsbl": []any{"bl.example"}},
			},
			absent: []string{"client: permit_mynetworks (at mail)", "client: permit_sasl_authenticated (at mail)"},
			listed: []string{"smtpd_helo_restrictions: permit_sasl_authenticated\n#       the filter's connect and helo rules run before AUTH, " +
				"so these after it refuse an authenticated session too, which Postfix, asking the list after AUTH, lets through " +
				"(a pass rule on authenticated = true spares one the rules at mail and after): check_client_access cidr:/etc/postfix/rbl_override, reject_rbl_client bl.example\n"},
			notext: []string{"#   smtpd_client_restrictions"}},
		{name: "permit_sasl_authenticated with smtpd_delay_reject = no",
			mainCF: "smtpd_delay_reject = no\n" +
				"smtpd_client_restrictions = permit_sasl_authenticated, reject_rbl_client zen.spamhaus.org\n" +
				"smtpd_helo_restrictions = permit_sasl_authenticated, reject_non_fqdn_helo_hostname\n" +
				"smtpd_recipient_restrictions = permit_sasl_authenticated, reject_invalid_helo_hostname\n",
			// Postfix asks the client and HELO lists at their commands,
			// before AUTH, too; the recipient list at RCPT, after.
			rules:  []map[string]any{{"name": "client: reject_rbl_client zen.spamhaus.org", "hook": "connect"}},
			listed: []string{"smtpd_recipient_restrictions: permit_sasl_authenticated\n#       the filter's connect and helo rules run before AUTH"},
			notext: []string{"#   smtpd_helo_restrictions: permit_sasl_authenticated", "#   smtpd_client_restrictions: permit_sasl_authenticated"}},
		{name: "smtpd_delay_reject = no",
			mainCF: "smtpd_delay_reject = no\nsmtpd_recipient_restrictions = reject_non_fqdn_sender\nsmtpd_client_restrictions = check_helo_access hash:/etc/postfix/helo\n",
			listed: []string{
				"smtpd_recipient_restrictions: reject_non_fqdn_sender\n#       refused at the mail hook here; Postfix, with smtpd_delay_reject = no, refuses at its list's command",
				"smtpd_client_restrictions: check_helo_access hash:/etc/postfix/helo\n#       asked at the helo hook here; Postfix, with smtpd_delay_reject = no, asks its list before that and never refuses there",
			}},
	} {
		out, _, rules := restrictionsOf(t, c.mainCF, nil)
		for _, w := range c.rules {
			r := ruleNamed(rules, w["name"].(string))
			if r == nil {
				t.Errorf("%s: no rule %q:\n%s", c.name, w["name"], out)
				continue
			}
			for k, v := range w {
				if !reflect.DeepEqual(r[k], v) {
					t.Errorf("%s: rule %q: %s = %v, want %v", c.name, w["name"], k, r[k], v)
				}
			}
		}
		for _, n := range c.absent {
			if ruleNamed(rules, n) != nil {
				t.Errorf("%s: rule %q written", c.name, n)
			}
		}
		for _, l := range c.listed {
			if !strings.Contains(out, "#   "+l) {
				t.Errorf("%s: draft lacks %q:\n%s", c.name, l, out)
			}
		}
		for _, l := range c.text {
			if !strings.Contains(out, l) {
				t.Errorf("%s: draft lacks %q:\n%s", c.name, l, out)
			}
		}
		for _, l := range c.notext {
			if strings.Contains(out, l) {
				t.Errorf("%s: draft has %q:\n%s", c.name, l, out)
			}
		}
	}
}

func TestPfElems(t *testing.T) {
	l := &pfRLists[2] // sender
	var got []string
	for _, e := range pfElems(l, "permit_mynetworks, hash:/etc/postfix/a warn_if_reject Reject_RBL_Client zen.example check_policy_service { inet:h:1, timeout=1s } warn_if_reject") {
		got = append(got, e.name+"|"+e.arg+"|"+e.text)
	}
	want := []string{"permit_mynetworks||permit_mynetworks", "check_sender_access|hash:/etc/postfix/a|hash:/etc/postfix/a",
		"reject_rbl_client|zen.example|warn_if_reject Reject_RBL_Client zen.example",
		"check_policy_service|{ inet:h:1, timeout=1s }|check_policy_service { inet:h:1, timeout=1s }", "warn_if_reject||warn_if_reject"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}
