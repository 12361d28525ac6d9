package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// smtpd_forbid_bare_newline becomes bare_newline, in main.cf and in a
// service's -o; "no" becomes normalize with why; the reject code and
// exclusions are carried when Sluice does the same, listed otherwise.
func TestImportPostfixBareNewline(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_forbid_bare_newline=reject\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	type doc struct {
		Bare     string `toml:"bare_newline"`
		Listener []struct {
			Name string `toml:"name"`
			Bare string `toml:"bare_newline"`
		} `toml:"listener"`
	}
	for _, tc := range []struct {
		name, main, top string
		want, listed    []string
	}{
		{"unset", tls, "", nil, []string{"smtpd_forbid_bare_newline "}},
		{"normalize", "smtpd_forbid_bare_newline = normalize\n" + tls, "normalize",
			[]string{"# smtpd_forbid_bare_newline = normalize\nbare_newline = \"normalize\"\n"}, nil},
		{"yes", "smtpd_forbid_bare_newline = Yes\n" + tls, "normalize",
			[]string{"in 3.8.4, 3.7.9, 3.6.13 and 3.5.23 it refused such a client and disconnected: write \"reject\" for that"}, nil},
		{"exclusions in braces", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions = ${mynetworks}\n" + tls, "reject",
			nil, []string{"smtpd_forbid_bare_newline_exclusions"}},
		{"reject", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 550\nsmtpd_forbid_bare_newline_exclusions = $mynetworks\n" + tls, "reject",
			nil, []string{"smtpd_forbid_bare_newline_reject_code", "smtpd_forbid_bare_newline_exclusions"}},
		{"no", "smtpd_forbid_bare_newline = no\n" + tls, "normalize",
			[]string{"a client ending it with <LF>.<LF> waits until its timeout"}, nil},
		{"other code and exclusions", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 554\nsmtpd_forbid_bare_newline_exclusions = 192.0.2.0/24\n" + tls, "reject",
			[]string{"#   smtpd_forbid_bare_newline_reject_code = 554\n#       Sluice refuses a bare newline with 550 5.5.2",
				"#   smtpd_forbid_bare_newline_exclusions = 192.0.2.0/24\n#       Sluice spares relay_networks"}, nil},
		{"bad", "smtpd_forbid_bare_newline = maybe\n" + tls, "",
			[]string{"#   smtpd_forbid_bare_newline = maybe\n#       not normalize, reject, yes or no"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{"main.cf": tc.main, "master.cf": master})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			var d doc
			if err := toml.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := map[string]string{"top": d.Bare}
			for _, l := range d.Listener {
				got[l.Name] = l.Bare
			}
			if got["top"] != tc.top || got["mx"] != "" || got["submission"] != "reject" {
				t.Errorf("got %v, want top %q, mx unset, submission reject\n%s", got, tc.top, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("want %q in:\n%s", w, out)
				}
			}
			for _, l := range tc.listed {
				if strings.Contains(out, "#   "+l) {
					t.Errorf("%s listed as not carried:\n%s", l, out)
				}
			}
		})
	}
}
