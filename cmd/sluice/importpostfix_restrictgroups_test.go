package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// draftStage is a stage of a draft: its listeners and its filter rules'
// names.
type draftStage struct {
	listeners []string
	rules     []string
}

// draftStages parses a draft and returns its stages by name, in order.
func draftStages(t *testing.T, out string) ([]string, map[string]draftStage) {
	t.Helper()
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	var names []string
	stages := map[string]draftStage{}
	for _, s := range cfg.Stages {
		names = append(names, s.Name)
		d := draftStage{listeners: s.Listeners}
		rs, _ := s.Config["rules"].([]any)
		for _, r := range rs {
			d.rules = append(d.rules, r.(map[string]any)["name"].(string))
		}
		stages[s.Name] = d
	}
	return names, stages
}

// A master.cf service's own -o smtpd_*_restrictions replaces main.cf's
// list for its listeners, as in Postfix: each set of lists gets its own
// filter stage with those listeners, and policy stage for each of their
// check_policy_service, main.cf's policy and verify stages
// serve the listeners asking their list, and a submission listener gets
// no connect or helo rule after permit_sasl_authenticated (every session
// sending there has authenticated, which Postfix lets through). Nothing of the
// lists is left to the "per-service settings" note, and what is not
// carried is listed under the service's line.
func TestImportPostfixServiceRestrictions(t *testing.T) {
	tables := t.TempDir()
	for name, text := range map[string]string{"own_senders": "example.org REJECT Not from outside\n", "rcpt_ok": "postmaster@ OK\n"} {
		if err := os.WriteFile(filepath.Join(tables, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	senders, rcptOK := "hash:"+tables+"/own_senders", "hash:"+tables+"/rcpt_ok"
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_tls_security_level = may\n" +
			"mua_sender_restrictions = permit_sasl_authenticated, reject\n" +
			"smtpd_helo_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_non_fqdn_helo_hostname\n" +
			"smtpd_sender_restrictions = permit_mynetworks, permit_sasl_authenticated, check_sender_access " + senders + "\n" +
			"relay_domains = example.net\nrelayhost = [exchange.internal]\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination,\n" +
			"    reject_unverified_recipient, check_policy_service inet:127.0.0.1:10023\n",
		"master.cf": "smtp inet n - y - - smtpd\n" +
			"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_helo_restrictions=\n" +
			"  -o smtpd_sender_restrictions=$mua_sender_restrictions\n  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n" +
			"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n" +
			"127.0.0.2:smtp inet n - y - - smtpd\n" +
			"  -o { smtpd_recipient_restrictions = permit_mynetworks, check_recipient_access " + rcptOK + ", reject_unauth_destination,\n" +
			"       check_policy_service inet:127.0.0.1:10040 }\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	names, stages := draftStages(t, out)
	if want := []string{"restrictions", "restrictions-submissions", "restrictions-mx-2", "verify", "policy", "policy-2"}; !slices.Equal(names, want) {
		t.Fatalf("stages %q, want %q\n%s", names, want, out)
	}
	helo := []string{"helo: permit_mynetworks", "helo: reject_non_fqdn_helo_hostname", "helo: reject_non_fqdn_helo_hostname (address literal)"}
	sender := []string{"sender: permit_mynetworks", "sender: permit_sasl_authenticated", "sender: check_sender_access " + senders}
	for name, want := range map[string]draftStage{
		"restrictions":             {[]string{"mx"}, append(slices.Clone(helo), sender...)},
		"restrictions-submissions": {[]string{"submissions"}, sender},
		"restrictions-mx-2": {[]string{"mx-2"}, append(append(slices.Clone(helo), sender...),
			"recipient: permit_mynetworks", "recipient: check_recipient_access "+rcptOK)},
		"verify":   {[]string{"mx", "submissions"}, nil},
		"policy":   {[]string{"mx", "submissions"}, nil},
		"policy-2": {[]string{"mx-2"}, nil},
	} {
		if got := stages[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("stage %s: %+v, want %+v", name, got, want)
		}
	}
	for _, l := range []string{
		"# the listeners of the services that ask main.cf's lists: master.cf smtp\nlisteners = [\"mx\"]\n",
		"# the listeners of the services whose own -o lists these are: master.cf 127.0.0.2:smtp\nlisteners = [\"mx-2\"]\n",
		"# master.cf 127.0.0.2:smtp -o smtpd_recipient_restrictions: check_recipient_access " + rcptOK + "\nname = \"recipient: check_recipient_access " + rcptOK + "\"\n",
		"# the listeners of the services that ask main.cf's smtpd_recipient_restrictions: master.cf smtp, master.cf smtps (the others replace it with their own -o)\nlisteners = [\"mx\", \"submissions\"]\n",
		"#   master.cf:2 submission -o smtpd_sender_restrictions=$mua_sender_restrictions\n" +
			"#       the submission listeners refuse MAIL before AUTH (530 5.7.0): permit_sasl_authenticated, then reject, is that\n",
		"#   master.cf:2 submission -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n" +
			"#       the submission listeners refuse MAIL before AUTH (530 5.7.0): permit_sasl_authenticated, then reject, is that\n",
		"#   master.cf:7 smtps: smtpd_helo_restrictions: reject_non_fqdn_helo_hostname\n" +
			"#       on the submission listeners every session that sends has authenticated",
		"# master.cf 127.0.0.2:smtp -o smtpd_recipient_restrictions: Postfix's check_policy_service inet:127.0.0.1:10040\n" +
			"[[stage]]\nname = \"policy-2\"\nplugin = \"policy\"\n" +
			"# the listeners of the services whose own list this is: master.cf 127.0.0.2:smtp\nlisteners = [\"mx-2\"]\n",
		"check_policy_service: the policy stage policy-2; the restrictions below",
		"#   master.cf:9 127.0.0.2:smtp -o smtpd_recipient_restrictions: check_policy_service inet:127.0.0.1:10040\n" +
			"#       an OK from check_recipient_access " + rcptOK + " before it does not spare the stage\n",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	for _, l := range []string{"_restrictions=permit_sasl_authenticated,reject\n#       per-service settings", "-o smtpd_helo_restrictions="} {
		if strings.Contains(out, l) {
			t.Errorf("draft has %q:\n%s", l, out)
		}
	}
	checkConfigPasses(t, out)
}

// When every service replaces a list with its own, main.cf's is asked
// on none of their listeners: no policy stage for its
// check_policy_service, and the list says so.
func TestImportPostfixServiceRestrictionsReplaceAll(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service inet:127.0.0.1:10023\n",
		"master.cf": "submission inet n - y - - smtpd\n  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := draftStages(t, out); len(names) != 0 {
		t.Errorf("stages %q, want none\n%s", names, out)
	}
	if l := "#   smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service inet:127.0.0.1:10023\n" +
		"#       every service imported has its own master.cf -o smtpd_recipient_restrictions: main.cf's is asked on none of their listeners\n"; !strings.Contains(out, l) {
		t.Errorf("draft lacks %q:\n%s", l, out)
	}
}
