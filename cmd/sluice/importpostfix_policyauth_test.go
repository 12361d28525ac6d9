package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A check_policy_service after permit_sasl_authenticated in the client
// or HELO list, which Postfix (smtpd_delay_reject = yes) asks at each
// RCPT, after AUTH, where the permit lets an authenticated session
// through, is a stage at mail, where skip_authenticated spares such a
// session: at connect or helo it would ask before AUTH, and a REJECT
// would turn away the site's own users (on a submission listener, every
// one). A service's own list's too. With smtpd_delay_reject = no Postfix
// asks at the command itself, before AUTH, and so does the stage.
func TestImportPostfixPolicyAfterSASLPermit(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	for _, tc := range []struct {
		name, delay string
		want        map[string]any // the stages' hooks
	}{
		{"delayed", "", map[string]any{"policy": []any{"mail"}, "policy-2": []any{"mail"}}},
		{"not delayed", "smtpd_delay_reject = no\n", map[string]any{"policy": []any{"connect"}, "policy-2": []any{"helo"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{
				"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\nsmtpd_sasl_auth_enable = yes\n" + tc.delay +
					"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\n" +
					"smtpd_helo_restrictions = permit_mynetworks, permit_sasl_authenticated, check_policy_service inet:127.0.0.1:10041\n",
				"master.cf": "smtp inet n - y - - smtpd\n" +
					"submission inet n - y - - smtpd\n  -o smtpd_client_restrictions=permit_sasl_authenticated,check_policy_service,inet:127.0.0.1:10040,reject\n",
			})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			policies, _ := policyStagesOf(t, out)
			got := map[string]any{}
			for name, p := range policies {
				got[name] = p["hooks"]
				if _, ok := p["skip_authenticated"]; ok {
					t.Errorf("stage %s has skip_authenticated %v, want the default (true)", name, p["skip_authenticated"])
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("hooks %v, want %v\n%s", got, tc.want, out)
			}
			if tc.delay == "" && !strings.Contains(out, "# in master.cf submission -o smtpd_client_restrictions: asked at MAIL, where skip_authenticated spares a session that authenticated") {
				t.Errorf("the stage's hooks comment does not say why MAIL:\n%s", out)
			}
			checkConfigPasses(t, out)
		})
	}
}
