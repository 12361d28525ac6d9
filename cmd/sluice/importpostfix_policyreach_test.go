package main

import (
	"slices"
	"strings"
	"testing"
)

// A check_policy_service or reject_unverified_recipient after a permit,
// reject or defer of its list, main.cf's or a service's own, is one
// Postfix never gets to (generic_checks stops at the first that
// decides): no stage asks that server, or probes, where Postfix never
// did; the list's notes say so, and name no stage. After warn_if_reject
// defer, which only logs, the list goes on and the stage is written.
func TestImportPostfixUnreachedStages(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = gw.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"relay_domains = example.org\nrelayhost = [exchange.internal]\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, permit,\n" +
			"    check_policy_service inet:127.0.0.1:10023, reject_unverified_recipient\n",
		"master.cf": "smtp inet n - y - - smtpd\n" +
			"127.0.0.2:smtp inet n - y - - smtpd\n  -o smtpd_relay_restrictions=reject_unauth_destination,defer,check_policy_service,inet:127.0.0.1:10031\n" +
			"127.0.0.3:smtp inet n - y - - smtpd\n  -o smtpd_relay_restrictions=reject_unauth_destination,warn_if_reject,defer,check_policy_service,inet:127.0.0.1:10032\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	policies, names := policyStagesOf(t, out)
	if !slices.Equal(names, []string{"policy"}) || policies["policy"]["server"] != "inet:127.0.0.1:10032" {
		t.Errorf("policy stages %q %v, want the one after warn_if_reject defer alone\n%s", names, policies, out)
	}
	if strings.Contains(out, "plugin = \"verify\"") {
		t.Errorf("a verify stage for a reject_unverified_recipient after permit:\n%s", out)
	}
	for _, l := range []string{
		"#   smtpd_recipient_restrictions: check_policy_service inet:127.0.0.1:10023\n#       after permit: Postfix never gets to it\n",
		"#   smtpd_recipient_restrictions: reject_unverified_recipient\n#       after permit: Postfix never gets to it\n",
		"#   master.cf:2 127.0.0.2:smtp -o smtpd_relay_restrictions: check_policy_service inet:127.0.0.1:10031\n#       after defer: Postfix never gets to it\n",
		"# master.cf 127.0.0.3:smtp -o smtpd_relay_restrictions: Postfix's check_policy_service inet:127.0.0.1:10032\n",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "the policy stage policy-") || strings.Contains(out, "reject_unverified_recipient: the verify stages") {
		t.Errorf("a list's note names a stage for a restriction Postfix never gets to:\n%s", out)
	}
	checkConfigPasses(t, out)
}
