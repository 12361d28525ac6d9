package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A check_policy_service in a master.cf service's own -o
// smtpd_*_restrictions becomes a policy stage for that service's
// listeners, as its other restrictions become a filter stage of theirs:
// services of either kind with the same lists share it, and it goes in
// its list's place among main.cf's, which those listeners ask too (the
// relay list's before the recipient list's, as Postfix asks them). The
// draft passes check-config.
func TestImportPostfixServicePolicy(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	policy := "{inet:127.0.0.1:10031,default_action=DUNNO}"
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_tls_security_level = may\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service inet:127.0.0.1:10023\n",
		"master.cf": "smtp inet n - y - - smtpd\n" +
			"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_relay_restrictions=permit_sasl_authenticated,check_policy_service," + policy + ",reject_unauth_destination\n" +
			"127.0.0.2:smtp inet n - y - - smtpd\n  -o { smtpd_relay_restrictions = permit_sasl_authenticated, check_policy_service " + policy + ", reject_unauth_destination }\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	policies, names := policyStagesOf(t, out)
	if want := []string{"policy", "policy-2"}; !slices.Equal(names, want) {
		t.Fatalf("stages %q, want %q\n%s", names, want, out)
	}
	for name, want := range map[string]map[string]any{
		"policy":   {"server": "inet:127.0.0.1:10031", "hooks": []any{"rcpt"}, "default_action": "DUNNO", "skip_relay_clients": false},
		"policy-2": {"server": "inet:127.0.0.1:10023", "hooks": []any{"rcpt"}, "skip_authenticated": false},
	} {
		if got := policies[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("stage %s: %v, want %v\n%s", name, got, want, out)
		}
	}
	for _, l := range []string{
		"# master.cf submission, master.cf 127.0.0.2:smtp -o smtpd_relay_restrictions: Postfix's check_policy_service inet:127.0.0.1:10031\n" +
			"[[stage]]\nname = \"policy\"\nplugin = \"policy\"\n" +
			"# the listeners of the services whose own list this is: master.cf submission, master.cf 127.0.0.2:smtp\n" +
			"listeners = [\"submission\", \"mx-2\"]\n",
		"# smtpd_recipient_restrictions: Postfix's check_policy_service inet:127.0.0.1:10023\n" +
			"[[stage]]\nname = \"policy-2\"\nplugin = \"policy\"\n# the whole call, which the stage's timeout bounds", // no listeners
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	for _, l := range []string{"none for a service's own list", "-o smtpd_relay_restrictions"} {
		if i := strings.Index(out, "# Read but not carried over"); i >= 0 && strings.Contains(out[i:], l) {
			t.Errorf("the notes have %q:\n%s", l, out[i:])
		}
	}
	checkConfigPasses(t, out)
}
