package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// master.cf's -o milter_macro_daemon_name becomes that service's
// listeners' milter_daemon_name; main.cf's, when set, that of the others;
// a value the config refuses is listed as not carried. Without either
// nothing is written (Sluice's default, the listener's name).
func TestImportPostfixMilterDaemonName(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o milter_macro_daemon_name=ORIGINATING\n" +
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o milter_macro_daemon_name=\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\nsmtpd_milters = inet:127.0.0.1:8891\n"
	names := func(t *testing.T, main string) (map[string]string, string) {
		t.Helper()
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": main, "master.cf": master})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Listener []struct {
				Name             string `toml:"name"`
				MilterDaemonName string `toml:"milter_daemon_name"`
			} `toml:"listener"`
		}
		if err := toml.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got := map[string]string{}
		for _, l := range doc.Listener {
			got[l.Name] = l.MilterDaemonName
		}
		return got, out
	}
	got, out := names(t, "myhostname = mx.example.org\nmilter_macro_daemon_name = $myhostname\n"+tls)
	want := map[string]string{"mx": "mx.example.org", "submission": "ORIGINATING", "submissions": ""}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("main.cf set: listener %s: milter_daemon_name %q, want %q\n%s", n, got[n], v, out)
		}
	}
	for _, line := range []string{
		"# milter_macro_daemon_name\nmilter_daemon_name = \"mx.example.org\"\n",
		"# milter_macro_daemon_name (master.cf submission -o)\nmilter_daemon_name = \"ORIGINATING\"\n",
		"#   master.cf:4 smtps -o milter_macro_daemon_name=\n#       not a milter_daemon_name: milter_daemon_name = \"\": want a name (leave milter_daemon_name out for the listener's name)\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("want %q in:\n%s", line, out)
		}
	}
	got, out = names(t, "milter_macro_daemon_name = my mta\n"+tls)
	const bad = "#   milter_macro_daemon_name = my mta\n#       not a milter_daemon_name:"
	if got["mx"] != "" || got["submission"] != "ORIGINATING" || strings.Count(out, bad) != 1 {
		t.Errorf("main.cf's value refused: %q, want it listed once\n%s", got, out)
	}
	noMilters := strings.Replace(tls, "smtpd_milters = inet:127.0.0.1:8891\n", "", 1)
	got, out = names(t, "myhostname = mx.example.org\n"+noMilters)
	if got["mx"] != "" || got["submission"] != "ORIGINATING" {
		t.Errorf("main.cf unset, no milters: %q, want mx without milter_daemon_name\n%s", got, out)
	}
	// With milters, what Postfix sent them by default: $myhostname.
	got, out = names(t, "myhostname = mx.example.org\n"+tls)
	if got["mx"] != "mx.example.org" || got["submission"] != "ORIGINATING" {
		t.Errorf("main.cf unset, with milters: %q, want mx with milter_daemon_name mx.example.org\n%s", got, out)
	}
}
