package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// smtpd_sasl_authenticated_header = yes becomes received_auth_user = true
// on the listeners it applies to: main.cf's on every service without its
// own, a service's -o on that one's; no (Postfix's default) writes
// nothing, and a value that is neither yes nor no is listed as not
// carried.
func TestImportPostfixSASLAuthenticatedHeader(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_sasl_authenticated_header=yes\n" +
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_sasl_authenticated_header=no\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	imp := func(t *testing.T, main, master string) (map[string]bool, string) {
		t.Helper()
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": main, "master.cf": master})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Listener []struct {
				Name             string `toml:"name"`
				ReceivedAuthUser bool   `toml:"received_auth_user"`
			} `toml:"listener"`
		}
		if err := toml.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got := map[string]bool{}
		for _, l := range doc.Listener {
			got[l.Name] = l.ReceivedAuthUser
		}
		return got, out
	}
	check := func(t *testing.T, what string, got, want map[string]bool, out string) {
		t.Helper()
		for n, v := range want {
			if on, ok := got[n]; !ok || on != v {
				t.Errorf("%s: listener %s: received_auth_user %v (listener written: %v), want %v\n%s", what, n, on, ok, v, out)
			}
		}
	}

	got, out := imp(t, tls, master)
	check(t, "-o only", got, map[string]bool{"mx": false, "submission": true, "submissions": false}, out)
	const line = "# smtpd_sasl_authenticated_header (master.cf submission -o) = yes\nreceived_auth_user = true\n"
	if !strings.Contains(out, line) {
		t.Errorf("want %q in:\n%s", line, out)
	}

	got, out = imp(t, "smtpd_sasl_authenticated_header = yes\n"+tls, master)
	check(t, "main.cf yes", got, map[string]bool{"mx": true, "submission": true, "submissions": false}, out)
	if !strings.Contains(out, "# smtpd_sasl_authenticated_header = yes\nreceived_auth_user = true\n") || strings.Contains(out, "#   smtpd_sasl_authenticated_header") {
		t.Errorf("main.cf yes: want it carried to mx, not listed:\n%s", out)
	}

	got, out = imp(t, "smtpd_sasl_authenticated_header = no\n"+tls, "smtp inet n - y - - smtpd\n")
	check(t, "main.cf no", got, map[string]bool{"mx": false}, out)
	if strings.Contains(out, "smtpd_sasl_authenticated_header") {
		t.Errorf("main.cf no: Sluice's default, nothing to write or list:\n%s", out)
	}

	// main.cf's applies to mx and submissions, and is listed once.
	got, out = imp(t, "smtpd_sasl_authenticated_header = true\n"+tls, "smtp inet n - y - - smtpd\n"+
		"submission inet n - y - - smtpd\n  -o smtpd_sasl_authenticated_header=on\n"+
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n")
	check(t, "bad values", got, map[string]bool{"mx": false, "submission": false, "submissions": false}, out)
	for _, bad := range []string{
		"#   smtpd_sasl_authenticated_header = true\n#       not yes or no\n",
		"#   master.cf:2 submission -o smtpd_sasl_authenticated_header=on\n#       not yes or no\n",
	} {
		if strings.Count(out, bad) != 1 {
			t.Errorf("want %q once in:\n%s", bad, out)
		}
	}
}
