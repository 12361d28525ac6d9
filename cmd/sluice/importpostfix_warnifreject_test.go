package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// warn_if_reject before reject or defer makes it only log, and Postfix
// goes on down the list (smtpd_check.c: smtpd_check_reject returns 0):
// the restrictions after it are carried over, not listed as never run,
// and the reject itself is listed as a warning, on a submission
// listener too (not as the AUTH it asks for). A permit after
// warn_if_reject still ends the list.
func TestImportPostfixWarnIfRejectGoesOn(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_sasl_auth_enable = yes\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, warn_if_reject reject,\n" +
			"    reject_rbl_client zen.example, warn_if_reject permit, reject_rbl_client late.example\n",
		"master.cf": "smtp inet n - y - - smtpd\n" +
			"submission inet n - y - - smtpd\n  -o smtpd_relay_restrictions=permit_sasl_authenticated,warn_if_reject,reject\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	_, stages := draftStages(t, out)
	if rules := stages["restrictions"].rules; !slices.Equal(rules, []string{"recipient: reject_rbl_client zen.example"}) {
		t.Errorf("restrictions %q, want the reject_rbl_client after warn_if_reject reject carried, none after the permit\n%s", rules, out)
	}
	for _, l := range []string{
		"#   smtpd_recipient_restrictions: warn_if_reject reject\n#       warn_if_reject: Postfix logs the refusal and goes on down the list",
		"#   smtpd_recipient_restrictions: reject_rbl_client late.example\n#       after warn_if_reject permit: Postfix never gets to it",
		"#   master.cf:2 submission -o smtpd_relay_restrictions: warn_if_reject reject\n#       warn_if_reject: Postfix logs the refusal and goes on down the list",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "after warn_if_reject reject") || strings.Contains(out, "then warn_if_reject reject, is that") {
		t.Errorf("the draft has restrictions after warn_if_reject reject as never run:\n%s", out)
	}
	checkConfigPasses(t, out)
}
