package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// smtpd_forbid_unauth_pipelining becomes forbid_unauth_pipelining, main.cf's
// at the top level and a service's -o on its listener; a restriction
// list's reject_unauth_pipelining is carried as forbid_unauth_pipelining =
// true, over main.cf's no; a value that is neither yes nor no is listed as
// not carried; with neither, nothing is written (on, Postfix 3.9's default).
func TestImportPostfixForbidUnauthPipelining(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_forbid_unauth_pipelining=no\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	type doc struct {
		Forbid   *bool `toml:"forbid_unauth_pipelining"`
		Listener []struct {
			Name   string `toml:"name"`
			Forbid *bool  `toml:"forbid_unauth_pipelining"`
		} `toml:"listener"`
	}
	imp := func(t *testing.T, main, master string) (doc, string) {
		t.Helper()
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": main, "master.cf": master})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		var d doc
		if err := toml.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return d, out
	}
	str := func(b *bool) string {
		if b == nil {
			return "unset"
		}
		if *b {
			return "true"
		}
		return "false"
	}
	for _, tc := range []struct {
		name, main, top, mx, sub, line string
	}{
		{"neither", tls, "unset", "unset", "false",
			"# smtpd_forbid_unauth_pipelining (master.cf submission -o) = no\nforbid_unauth_pipelining = false\n"},
		{"main.cf no", "smtpd_forbid_unauth_pipelining = no\n" + tls, "false", "unset", "false",
			"# smtpd_forbid_unauth_pipelining = no\nforbid_unauth_pipelining = false\n"},
		{"main.cf yes", "smtpd_forbid_unauth_pipelining = yes\n" + tls, "true", "unset", "false",
			"# smtpd_forbid_unauth_pipelining = yes\nforbid_unauth_pipelining = true\n"},
		{"restriction over no", "smtpd_forbid_unauth_pipelining = no\nsmtpd_data_restrictions = reject_unauth_pipelining\n" + tls, "true", "unset", "false",
			"# smtpd_forbid_unauth_pipelining = no; reject_unauth_pipelining in smtpd_data_restrictions\nforbid_unauth_pipelining = true\n"},
		{"restriction", "smtpd_client_restrictions = permit_mynetworks, reject_unauth_pipelining\n" + tls, "true", "unset", "false",
			"# reject_unauth_pipelining in smtpd_client_restrictions\nforbid_unauth_pipelining = true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, out := imp(t, tc.main, master)
			got := map[string]string{"top": str(d.Forbid)}
			for _, l := range d.Listener {
				got[l.Name] = str(l.Forbid)
			}
			if got["top"] != tc.top || got["mx"] != tc.mx || got["submission"] != tc.sub {
				t.Errorf("got %v, want top %s, mx %s, submission %s\n%s", got, tc.top, tc.mx, tc.sub, out)
			}
			if !strings.Contains(out, tc.line) {
				t.Errorf("want %q in:\n%s", tc.line, out)
			}
			if strings.Contains(out, "#   smtpd_forbid_unauth_pipelining") {
				t.Errorf("listed as not carried:\n%s", out)
			}
		})
	}
	_, out := imp(t, "smtpd_forbid_unauth_pipelining = maybe\n"+tls, "smtp inet n - y - - smtpd\n  -o smtpd_forbid_unauth_pipelining=sometimes\n")
	for _, want := range []string{"#   smtpd_forbid_unauth_pipelining = maybe\n#       not yes or no\n",
		"#   master.cf:1 smtp -o smtpd_forbid_unauth_pipelining=sometimes\n#       not yes or no\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
