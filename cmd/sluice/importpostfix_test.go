package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

var updateGolden = flag.Bool("update-postfix-golden", false, "rewrite testdata/postfix/*.golden")

// importCases are the Postfix directories under testdata/postfix: a
// Debian default install, a small site (Dovecot, milters, smarthost), an
// outbound relay (master.cf transports with -o options, long form), a
// sending host for several brands (sender-dependent relays, BCC maps) and
// a web farm's relay (sender_canonical_maps, masquerade_domains).
var importCases = []string{"debian", "site", "relay", "brands", "canonical"}

// importOf runs sluice import-postfix -d testdata/postfix/NAME.
func importOf(t *testing.T, name string) string {
	t.Helper()
	return runCLI(t, "import-postfix", "-d", filepath.Join("testdata", "postfix", name))
}

// The output is exactly the golden file: every setting, its comment and
// the list of what was not carried over.
func TestImportPostfixGolden(t *testing.T) {
	for _, name := range importCases {
		t.Run(name, func(t *testing.T) {
			got := importOf(t, name)
			golden := filepath.Join("testdata", "postfix", name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("import-postfix -d %s differs from %s:\n%s", name, golden, got)
			}
		})
	}
}

// withCertificates points the output's tls_cert and tls_key at a real
// key pair, since the Postfix host's files are not on this one, and the
// config's DNS at a closed loopback port, never the system resolver.
func withCertificates(t *testing.T, out string) string {
	cert, key := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mail.example.org"))
	out = regexp.MustCompile(`(?m)^tls_cert = ".*"$`).ReplaceAllString(out, `tls_cert = "`+cert+`"`)
	out = regexp.MustCompile(`(?m)^tls_key = ".*"$`).ReplaceAllString(out, `tls_key = "`+key+`"`)
	return out + "\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
}

// The output parses as core/config reads it, with the values the
// Postfix settings asked for, and sluice check-config accepts it: the
// route stage's config included, which the route plugin checks.
func TestImportPostfixRoundTrip(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the route plugin: this test binary as sluice
	for _, name := range importCases {
		t.Run(name, func(t *testing.T) {
			src := withCertificates(t, importOf(t, name))
			c, err := config.Parse("sluice.toml", []byte(src))
			if err != nil {
				t.Fatalf("core/config refuses the output: %v\n%s", err, src)
			}
			path := filepath.Join(t.TempDir(), "sluice.toml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
				t.Fatalf("check-config: exit %d: %s%s", code, stderr.String(), stdout.String())
			}
			if name == "debian" {
				if c.Hostname != "debian.example.org" || !c.DelayReject || c.Limits.MaxMessageSize != 10240000 ||
					!c.Delivery.NoDelayWarning || len(c.Listeners) != 1 || c.Listeners[0].Listen != "[::]:25" || len(c.Stages) != 0 {
					t.Errorf("debian: unexpected config %+v", c)
				}
				if got := prefixes(c); !slices.Equal(got, []string{"127.0.0.0/8", "127.0.0.0/8", "::1/128"}) {
					t.Errorf("relay_networks = %v", got)
				}
				return
			}
			if name == "brands" {
				checkBrands(t, c)
				return
			}
			if name == "canonical" {
				checkCanonical(t, c)
				return
			}
			if name == "relay" {
				var rules []string
				for _, s := range c.Stages {
					rs, _ := s.Config["rules"].([]any)
					for _, r := range rs {
						m := r.(map[string]any)
						rules = append(rules, m["match"].(string)+" "+m["transport"].(string))
					}
				}
				want := []string{"example.com smtp:[mx.example.com]?source=192.0.2.7&tls=verify",
					"partner.example smtp:[mx.partner.example]:2525?source=2001:db8::7&source=192.0.2.8&tls=required",
					"bulk.example smtp:[bulk-mx.example]?tls=dane", "other.example mx?source=192.0.2.7&tls=verify",
					".example.com smtp:[mx.example.com]?source=192.0.2.7&tls=verify"}
				if !slices.Equal(rules, want) {
					t.Errorf("relay: rules %q, want %q", rules, want)
				}
				if len(c.Listeners) != 2 || !c.Listeners[1].TLSRequired {
					t.Errorf("relay: listeners %+v, want submission with tls_required (-o { smtpd_tls_security_level = encrypt })", c.Listeners)
				}
				return
			}
			var kinds []string
			for _, l := range c.Listeners {
				kinds = append(kinds, l.Listen+" "+string(l.Kind))
			}
			if !slices.Equal(kinds, []string{"[::]:25 smtp", "[::]:587 submission", "[::]:465 submissions"}) || !c.Listeners[1].TLSRequired {
				t.Errorf("listeners: %v (submission tls_required %v)", kinds, c.Listeners[1].TLSRequired)
			}
			var stages []string
			for _, s := range c.Stages {
				stages = append(stages, s.Name+" "+s.Plugin+s.Milter+" "+string(s.OnError)+" "+s.Timeout.Duration.String()+" "+s.DataTimeout.Duration.String())
			}
			want := []string{"restrictions filter tempfail 5s 5s", "route route tempfail 5s 5s", "milter1 inet:localhost:8891 continue 45s 5m0s", "milter2 unix:/var/spool/postfix/spamass/spamass.sock tempfail 45s 10m0s"}
			if !slices.Equal(stages, want) {
				t.Errorf("stages = %q, want %q", stages, want)
			}
			if c.Auth.DovecotSocket != "/var/spool/postfix/private/auth" || c.Delivery.Relay != "smtp:[smtp.provider.example]:587?tls=required" ||
				c.Delivery.MaxAge.Duration.Hours() != 7*24 || c.Delivery.BounceMaxAge.Duration.Hours() != 24 ||
				c.Delivery.DelayWarning.Duration.Hours() != 4 || c.Delivery.SourceAddress != "192.0.2.25" ||
				c.Delivery.SourceAddress6 != "2001:db8:5::25" || !c.SoftBounce || c.DelayReject {
				t.Errorf("site: unexpected config %+v", c)
			}
			if !slices.Equal(c.LocalDomains, []string{"mail.example.org", "localhost.example.org", "localhost", "example.org", "example.net"}) {
				t.Errorf("local_domains = %v", c.LocalDomains)
			}
		})
	}
}

func prefixes(c *config.Config) []string {
	var out []string
	for _, p := range c.RelayNetworks {
		out = append(out, p.Prefix.String())
	}
	return out
}

// notCarried returns the names listed after "Read but not carried over".
func notCarried(t *testing.T, out string) []string {
	_, list, ok := strings.Cut(out, "\n# Read but not carried over:\n")
	if !ok {
		t.Fatalf("no list of what was not carried over:\n%s", out)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^#   (\S+)`).FindAllStringSubmatch(list, -1) {
		names = append(names, m[1])
	}
	return names
}

// Every main.cf parameter is either named in a comment above a setting
// or listed as not carried over, with a reason; the site's unmappable
// ones are those listed.
func TestImportPostfixListsWhatItDrops(t *testing.T) {
	for _, name := range importCases {
		t.Run(name, func(t *testing.T) {
			out := importOf(t, name)
			settings, _, _ := strings.Cut(out, "\n# Read but not carried over:\n")
			dropped := notCarried(t, out)
			mainCF, err := os.ReadFile(filepath.Join("testdata", "postfix", name, "main.cf"))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range pfLogicalLines(mainCF) {
				param, _, _ := strings.Cut(l.text, "=")
				param = strings.TrimSpace(param)
				commented := regexp.MustCompile(`(?m)^# .*\b` + regexp.QuoteMeta(param) + `\b`).MatchString(settings)
				if !commented && !slices.Contains(dropped, param) {
					t.Errorf("%s: main.cf's %s is neither carried over nor listed", name, param)
				}
			}
			// Each listed entry has its reason on the next line.
			_, list, _ := strings.Cut(out, "\n# Read but not carried over:\n")
			lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
			if len(lines)%2 != 0 {
				t.Fatalf("%s: list entries without a reason:\n%s", name, list)
			}
			for i := 1; i < len(lines); i += 2 {
				if !strings.HasPrefix(lines[i], "#       ") || len(lines[i]) < 20 {
					t.Errorf("%s: no reason for %q: %q", name, lines[i-1], lines[i])
				}
			}
		})
	}
	want := []string{"compatibility_level", "mydestination", "virtual_mailbox_maps", "smtp_sasl_auth_enable", "smtp_sasl_password_maps",
		"smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_recipient_restrictions:", "header_checks",
		"/etc/postfix/virtual:8", "master.cf:3", "master.cf:3", "master.cf:8", "master.cf:12", "/etc/postfix/transport:7"}
	if got := notCarried(t, importOf(t, "site")); !slices.Equal(got, want) {
		t.Errorf("site: not carried over %q, want %q", got, want)
	}
}

// Bad input is one line on stderr and exit 1: no directory, no main.cf,
// a table main.cf names that cannot be read.
func TestImportPostfixBadInput(t *testing.T) {
	dir := t.TempDir()
	noVirtual := filepath.Join(dir, "novirtual")
	if err := os.MkdirAll(noVirtual, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"main.cf", "master.cf", "transport"} {
		data, err := os.ReadFile(filepath.Join("testdata", "postfix", "site", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(noVirtual, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(dir, "missing"), "sluice: import-postfix: directory " + filepath.Join(dir, "missing") + ": no such file or directory\n"},
		{dir, "sluice: import-postfix: " + filepath.Join(dir, "main.cf") + ": no such file or directory\n"},
		{noVirtual, "sluice: import-postfix: virtual_alias_maps: hash:/etc/postfix/virtual: " + filepath.Join(noVirtual, "virtual") + ": no such file or directory\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"import-postfix", "-d", tc.dir}, nil, &stdout, &stderr)
		if code != exitUser || stderr.String() != tc.want || stdout.Len() != 0 {
			t.Errorf("-d %s: exit %d, stderr %q, stdout %q; want exit 1, %q", tc.dir, code, stderr.String(), stdout.String(), tc.want)
		}
	}
}

// main.cf is read as Postfix reads it: continuation lines, # comments,
// the last setting winning, $name, ${name} and ${name?text} expansion,
// and the defaults of myhostname, mydomain and myorigin.
func TestPostfixMainCFParsing(t *testing.T) {
	dir := t.TempDir()
	main := "# comment\nmydomain = example.org\nmydestination = $myhostname,\n  ${mydomain}\n\t${soft_bounce?bounce.$mydomain} ${relayhost:norelay.$mydomain}\n" +
		"soft_bounce = no\nsoft_bounce = yes\n  # not a continuation, a comment\n"
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := readPostfix(dir, "mx")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.value("myhostname"); got != "mx.example.org" {
		t.Errorf("myhostname = %q, want mx.example.org (gethostname's name plus .$mydomain)", got)
	}
	if got := p.value("mydestination"); got != "mx.example.org, example.org bounce.example.org norelay.example.org" {
		t.Errorf("mydestination = %q", got)
	}
	if got := p.value("soft_bounce"); got != "yes" {
		t.Errorf("soft_bounce = %q, want the last setting", got)
	}
	p2, _ := readPostfix(dir, "")
	p2.params, p2.byName = nil, map[string]int{}
	p2.hostname = "mx.example.net"
	if p2.value("mydomain") != "example.net" || p2.value("myorigin") != "mx.example.net" ||
		p2.value("mydestination") != "mx.example.net, localhost.example.net, localhost" {
		t.Errorf("defaults: mydomain %q, myorigin %q, mydestination %q", p2.value("mydomain"), p2.value("myorigin"), p2.value("mydestination"))
	}
	p2.hostname = "box"
	if p2.value("myhostname") != "box.localdomain" {
		t.Errorf("short gethostname(): myhostname %q, want box.localdomain", p2.value("myhostname"))
	}
}
