package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A submission or smtps service that served clients without AUTH
// becomes a listener that refuses MAIL before AUTH: its comment names
// who Postfix served and what keeps serving them.
func TestImportPostfixSubmissionServedWithoutAuth(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	const main = "myhostname = mx.example.org\nmynetworks = 10.1.0.0/16\ninet_interfaces = 127.0.0.1\n"
	tls := "smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\n"
	const (
		refused   = "this listener refuses MAIL before AUTH (530 5.7.0) from every client"
		lan       = "without AUTH (%s): mynetworks' hosts (permit_mynetworks);"
		everyone  = "every client for mail to its own domains, and mynetworks' hosts (permit_mynetworks) for any;"
		on587     = `write a listener of kind = "smtp" on port 587 with tls_required = true in place of this one`
		implicitT = `No listener takes mail over implicit TLS without AUTH`
	)
	for _, tc := range []struct {
		name, mainExtra, master string
		want                    []string // in the listener's comment; nil: no comment
	}{
		{"SASL not set", "", "submission inet n - y - - smtpd\n",
			[]string{"SASL off, smtpd_sasl_auth_enable not set", everyone, on587}},
		{"SASL off in the service", "smtpd_sasl_auth_enable = yes\n", "submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=no\n",
			[]string{"SASL off, -o smtpd_sasl_auth_enable = no", everyone, on587}},
		{"mynetworks only", "smtpd_sasl_auth_enable = yes\n", "submission inet n - y - - smtpd\n  -o smtpd_client_restrictions=permit_mynetworks,permit_sasl_authenticated,reject\n",
			[]string{strings.Replace(lan, "%s", "SASL on", 1), on587}},
		{"smtps", "", "smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_sender_restrictions=permit_mynetworks,defer\n",
			[]string{strings.Replace(lan, "%s", "SASL off, smtpd_sasl_auth_enable not set", 1), implicitT}},
		// warn_if_reject makes the reject after it only log
		// (smtpd_check.c): every client still gets through.
		{"warn_if_reject reject", "smtpd_sasl_auth_enable = yes\n", "submission inet n - y - - smtpd\n  -o smtpd_client_restrictions=permit_sasl_authenticated,warn_if_reject,reject\n",
			[]string{"without AUTH (SASL on): " + everyone, on587}},
		{"AUTH required", "smtpd_sasl_auth_enable = yes\n", "submission inet n - y - - smtpd\n  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n", nil},
		{"AUTH required in main.cf", "smtpd_sasl_auth_enable = yes\nsmtpd_recipient_restrictions = permit_sasl_authenticated, reject\n", "submission inet n - y - - smtpd\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{"main.cf": main + tc.mainExtra + tls, "master.cf": tc.master})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			_, after, ok := strings.Cut(out, "kind = \"submission")
			if !ok {
				t.Fatalf("no submission listener:\n%s", out)
			}
			_, after, _ = strings.Cut(after, "\n")
			comment, _, _ := strings.Cut(after, "\n")
			if tc.want == nil {
				if strings.Contains(out, refused) {
					t.Errorf("a listener whose service required AUTH has the comment:\n%s", out)
				}
				return
			}
			if !strings.HasPrefix(comment, "# Postfix served clients here without AUTH") || !strings.Contains(comment, refused) {
				t.Fatalf("the line after kind is %q, want the comment on clients served without AUTH:\n%s", comment, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(comment, w) {
					t.Errorf("comment %q lacks %q", comment, w)
				}
			}
		})
	}
}
