package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A policy stage's timeout holds the tries Postfix makes before
// default_action answers: try_limit tries of timeout, retry_delay apart,
// main.cf's or the { … } settings' or Postfix's defaults (100s × 2, 1s
// apart), and the moment the plugin keeps to answer, in whole seconds;
// the stage's default 5s would cut a slow server's short. The draft
// passes check-config without a warning; with the default 5s back it
// gets one, saying what would hold them.
func TestImportPostfixPolicyStageTimeout(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination,\n" +
			"    check_policy_service inet:127.0.0.1:10023,\n" +
			"    check_policy_service { inet:127.0.0.1:10024, timeout=10s, try_limit=3, retry_delay=0 },\n" +
			"    check_policy_service { inet:127.0.0.1:10025, timeout=0 }\n" +
			"smtpd_policy_service_timeout = 1m\n" +
			"smtpd_policy_service_retry_delay = 2\n",
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
	want := map[string]time.Duration{
		"policy":   123 * time.Second, // 1m × 2 + 2s, and the moment
		"policy-2": 31 * time.Second,  // 10s × 3, no delay
		"policy-3": 203 * time.Second, // timeout=0, not a time, is listed: the stage's default 100s
	}
	for _, s := range cfg.Stages {
		if w, ok := want[s.Name]; ok && (s.Timeout.Duration != w || s.DataTimeout.Duration != w) {
			t.Errorf("stage %s: timeout %v, data_timeout %v, want %v", s.Name, s.Timeout.Duration, s.DataTimeout.Duration, w)
		}
	}
	for _, l := range []string{
		"# the whole call, which the stage's timeout bounds: try_limit 2 (Postfix's default) tries of timeout 1m (smtpd_policy_service_timeout), " +
			"retry_delay 2s (smtpd_policy_service_retry_delay) apart, 122s, Postfix's wait for the server before default_action answers, " +
			"and a moment for the stage to answer it; the default 5s would cut a slow server's tries short\ntimeout = \"123s\"\n[stage.config]\n",
		"try_limit 3 (check_policy_service { inet:127.0.0.1:10024, try_limit=3 }) tries of timeout 10s (check_policy_service { inet:127.0.0.1:10024, timeout=10s }), " +
			"retry_delay 0s (check_policy_service { inet:127.0.0.1:10024, retry_delay=0 }) apart, 30s,",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	text := out + "\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	if got := checkConfigOutput(t, text); strings.Contains(got, "warning:") {
		t.Errorf("check-config warns of the draft:\n%s", got)
	}
	short := strings.Replace(text, "timeout = \"31s\"\n", "", 1)
	got := checkConfigOutput(t, short)
	if w := "warning: stage policy-2: its timeout (5s) is shorter than the policy server's tries take: " +
		"try_limit 3 tries of timeout 10s, retry_delay 0s apart, 30s, Postfix's wait before default_action answers; " +
		"the stage answers default_action to a slow server sooner, after fewer tries. timeout = \"31s\" holds them " +
		"(import-postfix writes that), or lower the [stage.config] timeout or try_limit\n"; !strings.Contains(got, w) || strings.Count(got, "warning:") != 1 {
		t.Errorf("check-config with the stage's default timeout:\n%s\nwant the one warning %q", got, w)
	}
}

// check-config holds a hand-written policy stage's tries against the
// timeout that bounds the calls asking the server: timeout for the hooks
// before data, data_timeout at the data hook, where data and
// end-of-data are asked in one call, one after the other. A stage whose
// tries fit gets no warning.
func TestCheckConfigPolicyTimeouts(t *testing.T) {
	head := "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	for _, c := range []struct{ stage, want string }{
		{"timeout = \"202s\"\n[stage.config]\nserver = \"inet:127.0.0.1:10023\"\n", ""},
		{"[stage.config]\nserver = \"inet:127.0.0.1:10023\"\ntimeout = \"1s\"\n", ""}, // 1s × 2 + 1s in 5s
		{"[stage.config]\nserver = \"inet:127.0.0.1:10023\"\n",
			"warning: stage p: its timeout (5s) is shorter than the policy server's tries take: try_limit 2 tries of timeout 1m40s, retry_delay 1s apart, 3m21s, " +
				"Postfix's wait before default_action answers; the stage answers default_action to a slow server sooner, after fewer tries. timeout = \"202s\" holds them"},
		{"timeout = \"1m\"\n[stage.config]\nserver = \"inet:127.0.0.1:10023\"\nhooks = [\"data\", \"end-of-data\"]\ntimeout = \"20s\"\n",
			"warning: stage p: its data_timeout (1m0s) is shorter than the policy server's tries take: try_limit 2 tries of timeout 20s, retry_delay 1s apart, 41s, " +
				"twice that for data and end-of-data, asked in turn at the data hook, Postfix's wait before default_action answers; " +
				"the stage answers default_action to a slow server sooner, after fewer tries. data_timeout = \"83s\" holds them"},
		{"data_timeout = \"83s\"\n[stage.config]\nserver = \"inet:127.0.0.1:10023\"\nhooks = [\"data\", \"end-of-data\"]\ntimeout = \"20s\"\n", ""},
		{"data_timeout = \"2s\"\n[stage.config]\nserver = \"inet:127.0.0.1:10023\"\nhooks = [\"mail\", \"end-of-data\"]\ntimeout = \"1s\"\nretry_delay = \"0s\"\n",
			"warning: stage p: its data_timeout (2s) is shorter"}, // 2s of tries: in the 5s at mail, not in 2s less the 200ms kept back
	} {
		got := checkConfigOutput(t, head+"\n[[stage]]\nname = \"p\"\nplugin = \"policy\"\n"+c.stage)
		switch {
		case c.want == "" && strings.Contains(got, "warning:"):
			t.Errorf("%s: a warning:\n%s", c.stage, got)
		case c.want != "" && (!strings.Contains(got, c.want) || strings.Count(got, "warning:") != 1):
			t.Errorf("%s:\n%s\nwant the one warning %q", c.stage, got, c.want)
		}
	}
}
