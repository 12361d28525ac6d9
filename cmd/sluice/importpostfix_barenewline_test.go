package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/core/config"
)

// smtpd_forbid_bare_newline becomes bare_newline, in main.cf and in a
// service's -o; "no" becomes normalize with why; the reject code and
// exclusions become bare_newline_reject_code and
// bare_newline_exclusions, nothing written for Postfix's defaults (550,
// $mynetworks: relay_networks), listed when Sluice cannot take them.
func TestImportPostfixBareNewline(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_forbid_bare_newline=reject\n"
	const tls = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	type doc struct {
		Bare     string    `toml:"bare_newline"`
		Code     int       `toml:"bare_newline_reject_code"`
		Excl     *[]string `toml:"bare_newline_exclusions"`
		Listener []struct {
			Name string `toml:"name"`
			Bare string `toml:"bare_newline"`
		} `toml:"listener"`
	}
	for _, tc := range []struct {
		name, main, top string
		want, listed    []string
		code            int    // top-level bare_newline_reject_code; 0: not written
		excl            string // top-level bare_newline_exclusions; "": not written
	}{
		{"unset", tls, "", nil, []string{"smtpd_forbid_bare_newline "}, 0, ""},
		{"normalize", "smtpd_forbid_bare_newline = normalize\n" + tls, "normalize",
			[]string{"# smtpd_forbid_bare_newline = normalize\nbare_newline = \"normalize\"\n"}, nil, 0, ""},
		{"yes", "smtpd_forbid_bare_newline = Yes\n" + tls, "normalize",
			[]string{"in 3.8.4, 3.7.9, 3.6.13 and 3.5.23 it refused such a client and disconnected: write \"reject\" and bare_newline_reject_code = 521 for that"}, nil, 0, ""},
		{"exclusions in braces", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions = ${mynetworks}\n" + tls, "reject",
			nil, []string{"smtpd_forbid_bare_newline_exclusions"}, 0, ""},
		{"reject", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 550\nsmtpd_forbid_bare_newline_exclusions = $mynetworks\n" + tls, "reject",
			nil, []string{"smtpd_forbid_bare_newline_reject_code", "smtpd_forbid_bare_newline_exclusions"}, 0, ""},
		{"no", "smtpd_forbid_bare_newline = no\n" + tls, "normalize",
			[]string{"a client ending it with <LF>.<LF> waits until its timeout"}, nil, 0, ""},
		{"other code and exclusions", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 554\nsmtpd_forbid_bare_newline_exclusions = 192.0.2.0/24\n" + tls, "reject",
			[]string{"# smtpd_forbid_bare_newline_reject_code = 554\nbare_newline_reject_code = 554\n",
				"# smtpd_forbid_bare_newline_exclusions = 192.0.2.0/24\nbare_newline_exclusions = [\"192.0.2.0/24\"]\n"},
			[]string{"smtpd_forbid_bare_newline_reject_code", "smtpd_forbid_bare_newline_exclusions"}, 554, "192.0.2.0/24"},
		{"521", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 521\n" + tls, "reject",
			[]string{"# smtpd_forbid_bare_newline_reject_code = 521: the connection is closed after the reply, as Postfix closes it\nbare_newline_reject_code = 521\n"},
			[]string{"smtpd_forbid_bare_newline_reject_code"}, 521, ""},
		{"mynetworks and more", "mynetworks = 10.0.0.0/8\nextra = [2001:db8::]/32\nsmtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions = $mynetworks, 192.0.2.1 $extra\n" + tls, "reject",
			nil, []string{"smtpd_forbid_bare_newline_exclusions"}, 0, "10.0.0.0/8 192.0.2.1 2001:db8::/32"},
		{"empty exclusions", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions =\n" + tls, "reject",
			[]string{"# smtpd_forbid_bare_newline_exclusions = (empty: no client spared)\nbare_newline_exclusions = []\n"}, []string{"smtpd_forbid_bare_newline_exclusions"}, 0, "[]"},
		{"bad code and exclusions", "smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 450\nsmtpd_forbid_bare_newline_exclusions = 192.0.2.0/24 mail.example.org !10.0.0.1\n" + tls, "reject",
			[]string{"#   smtpd_forbid_bare_newline_reject_code = 450\n#       not a 5XX code (postconf(5)), which bare_newline_reject_code takes",
				"#   smtpd_forbid_bare_newline_exclusions = 192.0.2.0/24 mail.example.org !10.0.0.1\n#       mail.example.org !10.0.0.1: bare_newline_exclusions takes addresses and CIDR networks only"}, nil, 0, ""},
		{"bad", "smtpd_forbid_bare_newline = maybe\n" + tls, "",
			[]string{"#   smtpd_forbid_bare_newline = maybe\n#       not normalize, reject, yes or no"}, nil, 0, ""},
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
			excl := ""
			if d.Excl != nil {
				excl = strings.Join(*d.Excl, " ")
				if excl == "" {
					excl = "[]"
				}
			}
			if d.Code != tc.code || excl != tc.excl {
				t.Errorf("bare_newline_reject_code %d, bare_newline_exclusions %q; want %d, %q\n%s", d.Code, excl, tc.code, tc.excl, out)
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

// A service's -o smtpd_forbid_bare_newline_reject_code and _exclusions
// are its listeners' own bare_newline_reject_code and
// bare_newline_exclusions, whichever way master.cf writes the -o: joined
// to its value (-oname=value, as the daemons' getopt reads it), in
// braces with spaces (Postfix 3.0), or apart. A service's $mynetworks
// is written out as relay_networks when main.cf's exclusions are other
// networks, which the listener would take otherwise. The draft passes
// check-config and refuses as written.
func TestImportPostfixBareNewlineService(t *testing.T) {
	const main = "myhostname = mx.example.org\nmynetworks = 10.0.0.0/8\n" +
		"smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_reject_code = 554\nsmtpd_forbid_bare_newline_exclusions = 203.0.113.0/24\n"
	const master = "127.0.0.1:smtp inet n - y - - smtpd\n" +
		"  -osmtpd_forbid_bare_newline_reject_code=521\n" +
		"  -o { smtpd_forbid_bare_newline_exclusions = 192.0.2.1, [2001:db8::]/32 }\n" +
		"192.0.2.10:smtp inet n - y - - smtpd\n" +
		"  -o smtpd_forbid_bare_newline_reject_code=550\n" +
		"  -osmtpd_forbid_bare_newline_exclusions=$mynetworks\n" +
		"192.0.2.11:smtp inet n - y - - smtpd\n" +
		"  -osmtpd_forbid_bare_newline_reject_code=42\n" +
		"  -o{smtpd_forbid_bare_newline_exclusions=192.0.2.99}\n"
	dir := writePostfix(t, "postfix", map[string]string{"main.cf": main, "master.cf": master})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"# smtpd_forbid_bare_newline_reject_code (master.cf 127.0.0.1:smtp -o) = 521: the connection is closed after the reply, as Postfix closes it\nbare_newline_reject_code = 521\n",
		"# smtpd_forbid_bare_newline_exclusions (master.cf 127.0.0.1:smtp -o) = 192.0.2.1, [2001:db8::]/32\nbare_newline_exclusions = [\"192.0.2.1\", \"2001:db8::/32\"]\n",
		"# smtpd_forbid_bare_newline_reject_code (master.cf 192.0.2.10:smtp -o) = 550\nbare_newline_reject_code = 550\n",
		"# smtpd_forbid_bare_newline_exclusions (master.cf 192.0.2.10:smtp -o) = $mynetworks (relay_networks as written above, in place of the top-level bare_newline_exclusions)\nbare_newline_exclusions = [\"10.0.0.0/8\"]\n",
		"#   master.cf:7 192.0.2.11:smtp -o smtpd_forbid_bare_newline_reject_code=42\n#       not a 5XX code",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("want %q in:\n%s", w, out)
		}
	}
	// -o{…} joined to its braces is no -o in Postfix either: its smtpd
	// refuses to start. It is no option here, so it is nowhere.
	if strings.Contains(out, "192.0.2.99") {
		t.Errorf("a joined -o{…} was read as an option:\n%s", out)
	}
	checkConfigPasses(t, out)
	c, err := config.Parse(filepath.Join(t.TempDir(), "sluice.toml"), []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range c.Listeners {
		got[l.Name] = fmt.Sprint(l.BareNewlineCode(), *l.BareNewlineExclusions)
	}
	want := map[string]string{"mx": "521 [192.0.2.1/32 2001:db8::/32]", "mx-2": "550 [10.0.0.0/8]", "mx-3": "554 [203.0.113.0/24]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
}
