package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Postfix's stock master.cf, its submission and smtps services each
// replacing the client, HELO, sender, recipient and relay lists (the
// $mua_* ones, mua_helo_restrictions not defined: empty), beside a
// main.cf with lists for port 25: the smtp listener gets main.cf's
// lists, the submission and submissions listeners one stage of their
// own with the data list they still take from main.cf, no policy stage
// (their recipient list is empty), and check-config accepts the draft.
func TestImportPostfixStockSubmissionAndSmtps(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 127.0.0.0/8\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_tls_security_level = may\n" +
			"smtpd_client_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_rbl_client zen.spamhaus.org\n" +
			"smtpd_helo_restrictions = permit_mynetworks, reject_non_fqdn_helo_hostname\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination,\n" +
			"    check_policy_service inet:127.0.0.1:10023\n" +
			"smtpd_data_restrictions = reject_unauth_pipelining, permit_sasl_authenticated, reject_multi_recipient_bounce\n" +
			"mua_client_restrictions = permit_sasl_authenticated, reject\nmua_sender_restrictions = permit_sasl_authenticated, reject\n",
		"master.cf": "smtp      inet  n       -       y       -       -       smtpd\n" +
			"submission inet n       -       y       -       -       smtpd\n" +
			"  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n  -o smtpd_sasl_auth_enable=yes\n" +
			"  -o smtpd_tls_auth_only=yes\n  -o smtpd_reject_unlisted_recipient=no\n" +
			"  -o smtpd_client_restrictions=$mua_client_restrictions\n  -o smtpd_helo_restrictions=$mua_helo_restrictions\n" +
			"  -o smtpd_sender_restrictions=$mua_sender_restrictions\n  -o smtpd_recipient_restrictions=\n" +
			"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n  -o milter_macro_daemon_name=ORIGINATING\n" +
			"smtps     inet  n       -       y       -       -       smtpd\n" +
			"  -o syslog_name=postfix/smtps\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_sasl_auth_enable=yes\n" +
			"  -o smtpd_reject_unlisted_recipient=no\n" +
			"  -o smtpd_client_restrictions=$mua_client_restrictions\n  -o smtpd_helo_restrictions=$mua_helo_restrictions\n" +
			"  -o smtpd_sender_restrictions=$mua_sender_restrictions\n  -o smtpd_recipient_restrictions=\n" +
			"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n  -o milter_macro_daemon_name=ORIGINATING\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	names, stages := draftStages(t, out)
	if want := []string{"restrictions", "restrictions-submission-submissions", "policy"}; !slices.Equal(names, want) {
		t.Fatalf("stages %q, want %q\n%s", names, want, out)
	}
	data := []string{"data: permit_sasl_authenticated", "data: reject_multi_recipient_bounce"}
	for name, want := range map[string]draftStage{
		"restrictions": {[]string{"mx"}, append([]string{"client: reject_rbl_client zen.spamhaus.org (at mail)",
			"helo: permit_mynetworks", "helo: reject_non_fqdn_helo_hostname", "helo: reject_non_fqdn_helo_hostname (address literal)"}, data...)},
		"restrictions-submission-submissions": {[]string{"submission", "submissions"}, data},
		"policy":                              {[]string{"mx"}, nil},
	} {
		if got := stages[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("stage %s: %+v, want %+v", name, got, want)
		}
	}
	for _, l := range []string{
		"#   master.cf:2 submission, master.cf:14 smtps -o smtpd_client_restrictions=$mua_client_restrictions\n" +
			"#       the submission listeners refuse MAIL before AUTH (530 5.7.0): permit_sasl_authenticated, then reject, is that\n",
		"#   master.cf:2 submission, master.cf:14 smtps -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n" +
			"#       the submission listeners refuse MAIL before AUTH (530 5.7.0): permit_sasl_authenticated, then reject, is that\n",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	for _, l := range []string{"-o smtpd_helo_restrictions=", "-o smtpd_recipient_restrictions=\n", "-o smtpd_sender_restrictions=$mua_sender_restrictions\n#       per-service"} {
		if strings.Contains(out, l) {
			t.Errorf("draft has %q:\n%s", l, out)
		}
	}
	checkConfigPasses(t, out)
}

// A submission service whose list lets clients through with
// permit_mynetworks and refuses the rest, without
// permit_sasl_authenticated (a LAN's hosts sending on 587 without
// AUTH), is served otherwise by a submission listener, which refuses
// MAIL before AUTH from every client: the note on its reject says those
// hosts are refused unless they authenticate, where Postfix serves
// them. So is one whose permit_sasl_authenticated Postfix asks before
// AUTH (smtpd_delay_reject = no, the client list).
func TestImportPostfixSubmissionPermitsWithoutAuth(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	const refused = "and the submission listeners refuse MAIL before AUTH (530 5.7.0) from every client, so one permit_mynetworks lets through here, which Postfix serves without AUTH, is refused unless it authenticates"
	for _, tc := range []struct{ name, mainExtra, list, element string }{
		{"no permit_sasl_authenticated", "", "permit_mynetworks,reject", "reject"},
		{"defer", "", "permit_mynetworks,defer", "defer"},
		{"permit_sasl_authenticated asked before AUTH", "smtpd_delay_reject = no\n", "permit_mynetworks,permit_sasl_authenticated,reject", "reject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{
				"main.cf": "myhostname = mx.example.org\nmynetworks = 10.1.0.0/16\ninet_interfaces = 127.0.0.1\n" + tc.mainExtra +
					"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\n",
				"master.cf": "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n  -o smtpd_client_restrictions=" + tc.list + "\n",
			})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			want := "#   master.cf:2 submission -o smtpd_client_restrictions: " + tc.element + "\n#       "
			i := strings.Index(out, want)
			if i < 0 {
				t.Fatalf("draft lacks %q:\n%s", want, out)
			}
			if line, _, _ := strings.Cut(out[i+len(want):], "\n"); !strings.Contains(line, refused) {
				t.Errorf("the note on %s says %q, want it to say %q", tc.element, line, refused)
			}
		})
	}
	// With permit_sasl_authenticated asked after AUTH, the listener is
	// that list; the permit_mynetworks before it is noted as before.
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 10.1.0.0/16\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\n",
		"master.cf": "submission inet n - y - - smtpd\n  -o smtpd_client_restrictions=permit_mynetworks,permit_sasl_authenticated,reject\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, refused) || !strings.Contains(out, "a client permit_mynetworks lets through must authenticate too on these listeners") {
		t.Errorf("permit_mynetworks, permit_sasl_authenticated, reject: want the permit_mynetworks note alone:\n%s", out)
	}
}
