package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// smtpd_authorized_xclient_hosts becomes xclient_hosts: main.cf's on
// every listener, a service's -o on its own; a list that is not plain
// addresses and networks is listed as not carried, and none of it set.
func TestImportPostfixXClientHosts(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_authorized_xclient_hosts=10.0.0.7,[2001:db8::7]\n" +
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_authorized_xclient_hosts=hash:/etc/postfix/xclient\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	hosts := func(t *testing.T, main string) (map[string][]string, string) {
		t.Helper()
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": main + tls, "master.cf": master})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Listener []struct {
				Name         string   `toml:"name"`
				XClientHosts []string `toml:"xclient_hosts"`
			} `toml:"listener"`
		}
		if err := toml.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got := map[string][]string{}
		for _, l := range doc.Listener {
			got[l.Name] = l.XClientHosts
		}
		return got, out
	}
	got, out := hosts(t, "smtpd_authorized_xclient_hosts = 127.0.0.1 192.0.2.0/24\n")
	want := map[string]string{"mx": "127.0.0.1 192.0.2.0/24", "submission": "10.0.0.7 2001:db8::7", "submissions": ""}
	for n, v := range want {
		if g := strings.Join(got[n], " "); g != v {
			t.Errorf("listener %s: xclient_hosts %q, want %q\n%s", n, g, v, out)
		}
	}
	for _, line := range []string{
		"# smtpd_authorized_xclient_hosts\nxclient_hosts = [\"127.0.0.1\", \"192.0.2.0/24\"]\n",
		"# smtpd_authorized_xclient_hosts (master.cf submission -o)\nxclient_hosts = [\"10.0.0.7\", \"2001:db8::7\"]\n",
		"#   master.cf:4 smtps -o smtpd_authorized_xclient_hosts=hash:/etc/postfix/xclient\n#       hash:/etc/postfix/xclient: xclient_hosts takes addresses and CIDR networks only",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("want %q in:\n%s", line, out)
		}
	}
	got, out = hosts(t, "smtpd_authorized_xclient_hosts = 127.0.0.1, !127.0.0.2\n")
	const bad = "#   smtpd_authorized_xclient_hosts = 127.0.0.1, !127.0.0.2\n#       !127.0.0.2: xclient_hosts takes"
	if len(got["mx"]) != 0 || strings.Join(got["submission"], " ") != "10.0.0.7 2001:db8::7" || strings.Count(out, bad) != 1 {
		t.Errorf("main.cf's list with an exclusion: %q, want it listed once and carried nowhere\n%s", got, out)
	}
	got, _ = hosts(t, "")
	if len(got["mx"]) != 0 {
		t.Errorf("not set: mx has xclient_hosts %q", got["mx"])
	}
}
