package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// smtpd compares restriction names without case (smtpd_check.c's
// strcasecmp), and a restriction class's name with it (htable_find):
// Reject_Unverified_Recipient still makes the verify stage, the permits
// before it and before Check_Policy_Service still spare the relay and
// authenticated clients, Reject_Unauth_Pipelining still turns
// forbid_unauth_pipelining on, and a class written Friends is found as
// one, its check_policy_service named in the note, as no stage is
// written for it.
func TestImportPostfixRestrictionNamesWithoutCase(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = gw.example.org\nrelay_domains = example.net\nrelayhost = [exchange.internal]\n" +
			"smtpd_forbid_unauth_pipelining = no\n" +
			"smtpd_restriction_classes = Friends\nFriends = check_policy_service inet:127.0.0.1:10040, reject_unverified_recipient\n" +
			"smtpd_sender_restrictions = Friends\n" +
			"smtpd_recipient_restrictions = Permit_MyNetworks, Permit_SASL_Authenticated, Reject_Unauth_Destination,\n" +
			"    Reject_Unverified_Recipient, Check_Policy_Service inet:127.0.0.1:10023\n" +
			"smtpd_data_restrictions = Reject_Unauth_Pipelining\n",
		"master.cf": "smtp inet n - y - - smtpd\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, s := range cfg.Stages {
		kinds[s.Plugin]++
		if (s.Plugin == "verify" || s.Plugin == "policy") && (s.Config["skip_authenticated"] != nil || s.Config["skip_relay_clients"] != nil) {
			t.Errorf("stage %s: %v, want skip_authenticated and skip_relay_clients left on", s.Name, s.Config)
		}
	}
	if kinds["verify"] != 1 || kinds["policy"] != 1 {
		t.Errorf("stages by plugin %v, want a verify and a policy stage\n%s", kinds, out)
	}
	if f := cfg.ForbidUnauthPipelining; f == nil || !*f {
		t.Errorf("forbid_unauth_pipelining off: Reject_Unauth_Pipelining is reject_unauth_pipelining\n%s", out)
	}
	for _, l := range []string{
		"#   smtpd_sender_restrictions: Friends\n#       a restriction class: none in the filter, whose rules call no list of others; write its restrictions where it is named, by hand; " +
			"it holds check_policy_service inet:127.0.0.1:10040, reject_unverified_recipient, for which no policy or verify stage is written either: a stage of its own, by hand\n",
		"#   Friends = check_policy_service inet:127.0.0.1:10040, reject_unverified_recipient\n#       a restriction class (smtpd_restriction_classes): none in the filter, " +
			"whose rules call no list of others; write its restrictions where it is named, by hand; it holds check_policy_service inet:127.0.0.1:10040, reject_unverified_recipient,",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "#   smtpd_recipient_restrictions") {
		t.Errorf("smtpd_recipient_restrictions, carried whole, is listed:\n%s", out)
	}
}

// A main.cf that sets neither smtpd_forbid_unauth_pipelining nor
// reject_unauth_pipelining gets a comment saying what Sluice's default
// does and what its Postfix did: mail_version says which, else Postfix
// before 3.9 did not forbid (compatibility_level named when set).
func TestImportPostfixPipeliningDefaultComment(t *testing.T) {
	const says = "# smtpd_forbid_unauth_pipelining not set: Sluice's forbid_unauth_pipelining, on when not written, answers a client that sends commands ahead without PIPELINING 554 5.5.0 and closes"
	for _, c := range []struct{ mainCF, want string }{
		{"", says + ", as Postfix 3.9 and later do by default; Postfix before 3.9 defaults to no and serves it: write forbid_unauth_pipelining = false to serve it as before\n"},
		{"compatibility_level = 3.6\n", says + ", as Postfix 3.9 and later do by default; Postfix before 3.9 defaults to no and serves it " +
			"(compatibility_level = 3.6: set up on that Postfix or a later one): write forbid_unauth_pipelining = false to serve it as before\n"},
		{"mail_version = 3.7.11\n", says + "; Postfix 3.7.11 (mail_version) defaults to no and serves it: write forbid_unauth_pipelining = false to serve it as before\n"},
		{"mail_version = 3.9.1\n", says + ", as Postfix 3.9.1 (mail_version) does by default\n"},
		{"smtpd_forbid_unauth_pipelining = yes\n", ""},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.mainCF, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.want == "" && strings.Contains(out, "smtpd_forbid_unauth_pipelining not set"):
			t.Errorf("%q: draft says it is not set:\n%s", c.mainCF, out)
		case c.want != "" && !strings.Contains(out, c.want):
			t.Errorf("%q: draft lacks %q:\n%s", c.mainCF, c.want, out)
		}
	}
}
