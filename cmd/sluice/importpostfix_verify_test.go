package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// reject_unverified_recipient becomes a verify stage for each next hop
// that its domains' mail goes to: transport_maps' smtp: and lmtp: servers,
// relay_domains' relayhost (address_verify_relayhost in its place); a
// domain delivered by MX and an address's own rule are listed. Postfix's
// unverified_recipient_reject_code, address_verify_sender and cache times
// are carried, permit_mynetworks before it is skip_relay_clients, and the
// draft passes check-config, the verify plugin's own checks included.
func TestImportPostfixVerify(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the first-party plugins: this test binary as sluice
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = gw.example.org\n" +
			"relay_domains = example.org, example.net, example.com, mx.example, hash:/etc/postfix/relay\n" +
			"relayhost = [exchange.internal]\n" +
			"address_verify_relayhost = [exchange.internal]:2525\n" +
			"transport_maps = hash:/etc/postfix/transport\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, reject_unverified_recipient\n" +
			"unverified_recipient_reject_code = 550\n" +
			"address_verify_sender = <>\n" +
			"address_verify_negative_refresh_time = 30m\n" +
			// Shorter than the refresh time's default (7d): Postfix
			// then asks nothing before the answer expires.
			"address_verify_positive_expire_time = 5d\n" +
			"address_verify_poll_count = 1\n",
		"master.cf": "smtp inet n - y - - smtpd\n",
		"transport": "example.net lmtp:inet:10.0.0.5:24\n" +
			"example.com smtp:[mailbox.internal]:25\n" +
			"boss@example.com smtp:[vip.internal]:25\n" +
			"mx.example smtp:\n",
		"relay": "other.example OK\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	type stage struct {
		next    string
		domains []string
	}
	var got []stage
	var names []string
	for _, s := range cfg.Stages {
		names = append(names, s.Name)
		if s.Plugin != "verify" {
			continue
		}
		var ds []string
		for _, d := range s.Config["domains"].([]any) {
			ds = append(ds, d.(string))
		}
		got = append(got, stage{s.Config["next_hop"].(string), ds})
		if s.Config["reject_code"] != int64(550) || s.Config["sender"] != "<>" || s.Config["negative_refresh_time"] != "30m" || s.Config["positive_expire_time"] != "5d" ||
			s.Config["skip_authenticated"] != false || s.Config["skip_relay_clients"] != nil {
			t.Errorf("stage %s: %v", s.Name, s.Config)
		}
	}
	want := []stage{
		{"lmtp:tcp:10.0.0.5:24", []string{"example.net"}},
		{"smtp:mailbox.internal:25", []string{"example.com"}},
		{"smtp:exchange.internal:2525", []string{"mx.example", "example.org"}},
	}
	if !slices.EqualFunc(got, want, func(a, b stage) bool { return a.next == b.next && slices.Equal(a.domains, b.domains) }) {
		t.Errorf("verify stages %+v, want %+v\n%s", got, want, out)
	}
	if !slices.Equal(names, []string{"route", "verify", "verify-2", "verify-3"}) {
		t.Errorf("stages %q: want the verify stages after route", names)
	}
	for _, l := range []string{
		"reject_unverified_recipient for boss@example.com\n#       a verify stage asks by domain",
		"reject_unverified_recipient for relay_domains hash:/etc/postfix/relay\n#       a table or file of domains",
		"address_verify_poll_count = 1\n#       none: the RCPT waits for its probe",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	// smtpd_recipient_restrictions is carried whole: the verify stages,
	// their skips and built-in relay control.
	if listed := notCarried(t, out); slices.Contains(listed, "unverified_recipient_reject_code") || slices.Contains(listed, "address_verify_relayhost") ||
		slices.Contains(listed, "smtpd_recipient_restrictions") {
		t.Errorf("carried parameters listed: %q", listed)
	}
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("check-config: exit %d: %s%s\n%s", code, stderr.String(), stdout.String(), out)
	}
}

// Without permit_sasl_authenticated and permit_mynetworks before it,
// the stage probes those clients' recipients too; without
// reject_unverified_recipient there is no stage, and the address
// verification parameters are listed, saying so.
func TestImportPostfixVerifyPermits(t *testing.T) {
	for _, c := range []struct {
		restrictions string
		stage        bool
		skipAuth     any
		skipRelay    any
	}{
		{"permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination, reject_unverified_recipient", true, nil, nil},
		{"reject_unverified_recipient, permit_mynetworks", true, false, false},
		{"permit_mynetworks, reject_unauth_destination", false, nil, nil},
		{"reject_unverified_recipient", false, nil, nil}, // no relayhost: by MX
	} {
		extra := ""
		if !strings.Contains(c.restrictions, "reject_unverified_recipient") {
			extra = "unverified_recipient_reject_code = 550\n"
		}
		relay := "relayhost = [exchange.internal]\n"
		if !c.stage && strings.Contains(c.restrictions, "reject_unverified_recipient") {
			relay = ""
		}
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf": "myhostname = gw.example.org\nrelay_domains = example.org\n" + relay +
				"smtpd_relay_restrictions = " + c.restrictions + "\n" + extra,
			"master.cf": "smtp inet n - y - - smtpd\n",
		})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out))
		if err != nil {
			t.Fatalf("core/config refuses the output: %v\n%s", err, out)
		}
		var found bool
		for _, s := range cfg.Stages {
			if s.Plugin != "verify" {
				continue
			}
			found = true
			if s.Config["next_hop"] != "smtp:exchange.internal" || s.Config["skip_authenticated"] != c.skipAuth || s.Config["skip_relay_clients"] != c.skipRelay ||
				s.Config["reject_code"] != int64(450) {
				t.Errorf("%s: %v", c.restrictions, s.Config)
			}
		}
		if found != c.stage {
			t.Errorf("%s: a verify stage %v, want %v\n%s", c.restrictions, found, c.stage, out)
		}
		if extra != "" && !strings.Contains(out, "unverified_recipient_reject_code = 550\n#       a verify stage's, for reject_unverified_recipient, which neither") {
			t.Errorf("%s: unverified_recipient_reject_code not listed with why:\n%s", c.restrictions, out)
		}
		if relay == "" && !strings.Contains(out, "reject_unverified_recipient for example.org\n#       delivered by MX: no one next hop to ask") {
			t.Errorf("%s: the domain delivered by MX is not listed:\n%s", c.restrictions, out)
		}
	}
}

// address_verify_negative_cache = no keeps no failed probe in Postfix:
// each stage gets tempfail_refresh_time = "0s" (a deferred probe is not
// kept), and the parameter is listed for the half a stage cannot do (a
// refusal is still kept). yes, the default, is carried as it is; a
// value other than yes or no is listed.
func TestImportPostfixVerifyNegativeCache(t *testing.T) {
	for _, c := range []struct {
		value    string
		tempfail any
		listed   string
	}{
		{"no", "0s", "in part: a refused address is still kept"},
		{"No", "0s", "in part: a refused address is still kept"},
		{"yes", nil, ""},
		{"maybe", nil, "not yes or no"},
	} {
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf": "myhostname = gw.example.org\nrelay_domains = example.org\nrelayhost = [exchange.internal]\n" +
				"transport_maps = hash:/etc/postfix/transport\n" +
				"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, reject_unverified_recipient\n" +
				"address_verify_negative_cache = " + c.value + "\n",
			"master.cf": "smtp inet n - y - - smtpd\n",
			"transport": "example.net lmtp:inet:10.0.0.5:24\n",
		})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out))
		if err != nil {
			t.Fatalf("%s: core/config refuses the output: %v\n%s", c.value, err, out)
		}
		n := 0
		for _, s := range cfg.Stages {
			if s.Plugin != "verify" {
				continue
			}
			n++
			if s.Config["tempfail_refresh_time"] != c.tempfail {
				t.Errorf("%s: stage %s: tempfail_refresh_time %v, want %v", c.value, s.Name, s.Config["tempfail_refresh_time"], c.tempfail)
			}
		}
		if n != 2 {
			t.Errorf("%s: %d verify stages, want 2:\n%s", c.value, n, out)
		}
		listed := slices.Contains(notCarried(t, out), "address_verify_negative_cache")
		if listed != (c.listed != "") || c.listed != "" && !strings.Contains(out, "address_verify_negative_cache = "+c.value+"\n#       "+c.listed) {
			t.Errorf("%s: listed %v, want %q:\n%s", c.value, listed, c.listed, out)
		}
	}
}
