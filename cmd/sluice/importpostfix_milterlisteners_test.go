package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A master.cf service's -o smtpd_milters replaces main.cf's for its
// sessions, as in Postfix (an empty one: no milters): each milter is one
// stage, whose listeners are those of the services running it, no key
// when that is every listener; non_smtpd_milters run on the listener
// sluice sendmail submits to. The -o is carried, not listed, and the
// draft passes check-config.
func TestImportPostfixServiceMilters(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts first-party plugins: this test binary as sluice
	const tls = "myhostname = mx.example.org\nsmtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	master := func(submission, smtps string) string {
		return "smtp inet n - y - - smtpd\n" +
			"submission inet n - y - - smtpd\n" + submission +
			"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n" + smtps
	}
	for _, c := range []struct {
		name, main, master string
		want               []string // each milter stage: socket, listeners ("*" for no key), timeout
		lines              []string // in the output
		daemonNames        string   // each listener's milter_daemon_name
	}{
		{name: "opendkim for submission only", main: "smtpd_milters = inet:127.0.0.1:11332\n",
			master: master("  -o smtpd_milters=inet:127.0.0.1:8891\n", ""),
			want:   []string{"inet:127.0.0.1:11332 [mx submissions] 30s", "inet:127.0.0.1:8891 [submission] 30s"},
			lines: []string{"# master.cf submission -o smtpd_milters (inet:127.0.0.1:8891)\nname = \"milter2\"\n",
				"# the listeners of the services that run it: master.cf smtp, smtps (main.cf's smtpd_milters)\nlisteners = [\"mx\", \"submissions\"]\n",
				"# the listeners of the services that run it: master.cf submission (its -o smtpd_milters)\nlisteners = [\"submission\"]\n"}},
		{name: "none on smtps", main: "smtpd_milters = inet:127.0.0.1:11332, inet:127.0.0.1:8891\n",
			master: master("", "  -o smtpd_milters=\n"),
			want:   []string{"inet:127.0.0.1:11332 [mx submission] 30s", "inet:127.0.0.1:8891 [mx submission] 30s"}},
		{name: "long form, main.cf's and one more", main: "smtpd_milters = inet:127.0.0.1:11332\n",
			master: master("  -o { smtpd_milters = $smtpd_milters, { inet:127.0.0.1:8891, command_timeout = 40s } }\n", ""),
			want:   []string{"inet:127.0.0.1:11332 * 30s", "inet:127.0.0.1:8891 [submission] 40s"},
			lines:  []string{"# master.cf submission -o smtpd_milters's command_timeout = 40s: the longer"}},
		{name: "non_smtpd_milters on sendmail's listener", main: "smtpd_milters = inet:127.0.0.1:11332\nnon_smtpd_milters = inet:127.0.0.1:8891\n",
			master: master("", "  -o { smtpd_milters = }\n"),
			want:   []string{"inet:127.0.0.1:11332 [mx submission] 30s", "inet:127.0.0.1:8891 [mx] 30s"},
			lines:  []string{"mx (non_smtpd_milters: the listener sluice sendmail submits to)\nlisteners = [\"mx\"]\n"}},
		{name: "service milters only", master: master("  -o smtpd_milters=inet:127.0.0.1:8891\n", ""),
			want:        []string{"inet:127.0.0.1:8891 [submission] 30s"},
			daemonNames: "mx= submission=mx.example.org submissions="},
		{name: "orders differ", main: "smtpd_milters = inet:127.0.0.1:11332, inet:127.0.0.1:8891\n",
			master: master("  -o smtpd_milters=inet:127.0.0.1:8891,inet:127.0.0.1:11332\n", ""),
			want:   []string{"inet:127.0.0.1:11332 * 30s", "inet:127.0.0.1:8891 * 30s"},
			lines:  []string{"\n# Milter order: Postfix runs a service's milters in its list's order, and these lists order the same milters differently: smtpd_milters (milter1, milter2); master.cf submission -o smtpd_milters (milter2, milter1). "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{"main.cf": tls + c.main, "master.cf": c.master})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			src := withCertificates(t, out)
			cfg, err := config.Parse("sluice.toml", []byte(src))
			if err != nil {
				t.Fatalf("core/config refuses the output: %v\n%s", err, out)
			}
			var got []string
			for _, s := range cfg.Stages {
				if s.Milter == "" {
					continue
				}
				ls := "*"
				if s.Listeners != nil {
					ls = fmt.Sprint(s.Listeners)
				}
				got = append(got, s.Milter+" "+ls+" "+s.Timeout.Duration.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("milter stages:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"), out)
			}
			for _, l := range c.lines {
				if !strings.Contains(out, l) {
					t.Errorf("want %q in:\n%s", l, out)
				}
			}
			if c.daemonNames != "" {
				var names []string
				for _, l := range cfg.Listeners {
					names = append(names, l.Name+"="+l.MilterDaemonName)
				}
				if strings.Join(names, " ") != c.daemonNames {
					t.Errorf("milter_daemon_name: %s, want %s", strings.Join(names, " "), c.daemonNames)
				}
			}
			if _, list, _ := strings.Cut(out, "\n# Read but not carried over:\n"); strings.Contains(list, "smtpd_milters") {
				t.Errorf("smtpd_milters listed as not carried over:\n%s", list)
			}
			path := filepath.Join(t.TempDir(), "sluice.toml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
				t.Fatalf("check-config: exit %d: %s%s\n%s", code, stderr.String(), stdout.String(), src)
			}
		})
	}
}
