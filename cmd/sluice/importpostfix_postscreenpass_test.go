package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// postscreen hands the clients it lets through to the smtpd of its pass
// service (smtpd_service_name, "smtpd" by default), which serves their
// sessions on port 25: that service's -o options are the port-25
// listener's, as the -o of an smtpd smtp service are (a banner,
// pipelining, its own restriction lists as a filter stage of its
// listener), those the listener has no word for are listed under its
// line, and a pass service no postscreen hands clients to says so. The
// draft passes check-config.
func TestImportPostfixPostscreenPassOptions(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_tls_security_level = may\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n",
		"master.cf": "smtp inet n - y - 1 postscreen\n" +
			"smtpd pass - - y - - smtpd\n" +
			"  -o { smtpd_banner = $myhostname ESMTP pass }\n" +
			"  -o smtpd_forbid_unauth_pipelining=no\n" +
			"  -o smtpd_recipient_restrictions=permit_mynetworks,reject_unauth_destination,reject_rbl_client,zen.example\n" +
			"  -o syslog_name=postfix/pass\n" +
			"old-smtpd pass - - y - - smtpd\n  -o smtpd_banner=$myhostname\n" +
			"dnsblog unix - - y - 0 dnsblog\n" +
			"tlsproxy unix - - y - 0 tlsproxy\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	if len(cfg.Listeners) != 1 {
		t.Fatalf("listeners %+v, want mx alone\n%s", cfg.Listeners, out)
	}
	mx := cfg.Listeners[0]
	if mx.Name != "mx" || mx.Listen != "127.0.0.1:25" || mx.Banner == nil || *mx.Banner != "ESMTP pass" ||
		mx.ForbidUnauthPipelining == nil || *mx.ForbidUnauthPipelining {
		t.Errorf("listener %+v, want mx on port 25 with the pass service's banner and forbid_unauth_pipelining = false\n%s", mx, out)
	}
	names, stages := draftStages(t, out)
	if !slices.Equal(names, []string{"restrictions-mx"}) || !slices.Equal(stages["restrictions-mx"].rules, []string{"recipient: reject_rbl_client zen.example"}) {
		t.Errorf("stages %q %+v, want the pass service's reject_rbl_client in restrictions-mx\n%s", names, stages, out)
	}
	for _, l := range []string{
		"# master.cf:1 service smtp (postscreen), its clients served by master.cf:2 smtpd pass (smtpd)\nname = \"mx\"\n",
		"# smtpd_forbid_unauth_pipelining (master.cf smtpd -o) = no\nforbid_unauth_pipelining = false\n",
		"# master.cf smtpd -o smtpd_recipient_restrictions: reject_rbl_client zen.example",
		"#   master.cf:2 smtpd -o syslog_name=postfix/pass\n#       per-service settings",
		"#   master.cf:7 old-smtpd -o smtpd_banner=$myhostname\n#       a setting of an smtpd that postscreen hands clients to: no postscreen service imported hands them to this one",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	if strings.Contains(out, "a setting of Postfix's smtpd(8) service: none in Sluice") {
		t.Errorf("the pass service's options are listed as none in Sluice:\n%s", out)
	}
	checkConfigPasses(t, out)
}

// master(8) gives each process its own line's -o: a postscreen line's
// smtpd_* options reach postscreen, not the smtpd of its pass service
// that serves the sessions, which has main.cf's and its own. So they are
// listed, not the listener's (here main.cf's STARTTLS stays and the
// line's DNS list is no rule); a pass service two postscreen services
// share (smtpd_service_name) is both listeners', its unused options
// listed once and its services named once; a postscreen whose pass
// service master.cf lacks says so. The draft passes check-config.
func TestImportPostfixPostscreenOwnOptions(t *testing.T) {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n" +
			"smtpd_tls_cert_file = " + cert + "\nsmtpd_tls_key_file = " + key + "\nsmtpd_tls_security_level = may\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n",
		"master.cf": "smtp inet n - y - 1 postscreen\n" +
			"  -o smtpd_service_name=inbound\n" +
			"  -o smtpd_recipient_restrictions=permit_mynetworks,reject_unauth_destination,reject_rbl_client,ps.example\n" +
			"  -o smtpd_tls_security_level=none\n" +
			"  -o { smtpd_banner = $myhostname postscreen }\n" +
			"127.0.0.2:smtp inet n - y - 1 postscreen\n  -o smtpd_service_name=inbound\n" +
			"inbound pass - - y - - smtpd\n  -o syslog_name=postfix/inbound\n" +
			"  -o smtpd_helo_restrictions=reject_non_fqdn_helo_hostname\n" +
			"smtpd pass - - y - - smtpd\n  -o { smtpd_banner = $myhostname unused }\n" +
			"127.0.0.3:smtp inet n - y - 1 postscreen\n  -o smtpd_service_name=missing\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	if len(cfg.Listeners) != 3 {
		t.Fatalf("listeners %+v, want mx, mx-2, mx-3\n%s", cfg.Listeners, out)
	}
	for _, l := range cfg.Listeners[:2] {
		if l.TLSCert == "" || l.Banner != nil {
			t.Errorf("listener %s: tls_cert %q banner %v, want main.cf's STARTTLS and banner, not the postscreen line's\n%s", l.Name, l.TLSCert, l.Banner, out)
		}
	}
	names, stages := draftStages(t, out)
	helo := []string{"helo: reject_non_fqdn_helo_hostname", "helo: reject_non_fqdn_helo_hostname (address literal)"}
	if !slices.Equal(names, []string{"restrictions-mx-mx-2"}) || !slices.Equal(stages["restrictions-mx-mx-2"].rules, helo) ||
		!slices.Equal(stages["restrictions-mx-mx-2"].listeners, []string{"mx", "mx-2"}) {
		t.Errorf("stages %q %+v, want the pass service's helo rules for mx and mx-2 alone\n%s", names, stages, out)
	}
	const own = "#       postscreen's own: the smtpd that serves the clients it lets through (master.cf:8 inbound) does not read it"
	for _, l := range []string{
		"# master.cf:1 service smtp (postscreen), its clients served by master.cf:8 inbound pass (smtpd)\n",
		"# master.cf:6 service 127.0.0.2:smtp (postscreen), its clients served by master.cf:8 inbound pass (smtpd)\n",
		"# the listeners of the services whose own -o lists these are: master.cf inbound\n",
		"#   master.cf:1 smtp -o smtpd_recipient_restrictions=permit_mynetworks,reject_unauth_destination,reject_rbl_client,ps.example\n" + own,
		"#   master.cf:1 smtp -o smtpd_tls_security_level=none\n" + own,
		"#   master.cf:1 smtp -o smtpd_banner=$myhostname postscreen\n" + own,
		"#   master.cf:8 inbound -o syslog_name=postfix/inbound\n#       per-service settings",
		"#   master.cf:11 smtpd -o smtpd_banner=$myhostname unused\n#       a setting of an smtpd that postscreen hands clients to: no postscreen service imported hands them to this one",
		"#   master.cf:13 127.0.0.3:smtp postscreen\n#       its pregreet test is a listener's greet_pause, by hand; DNSBLs are filter rules; its deep protocol tests have no counterpart; master.cf has no \"missing\" pass service running smtpd (smtpd_service_name)",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	if n := strings.Count(out, "master.cf:8 inbound -o syslog_name"); n != 1 {
		t.Errorf("the pass service's syslog_name is listed %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "smtpd_service_name=inbound") {
		t.Errorf("smtpd_service_name, which the import reads, is listed:\n%s", out)
	}
	checkConfigPasses(t, out)
}
