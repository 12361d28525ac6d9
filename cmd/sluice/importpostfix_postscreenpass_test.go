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
