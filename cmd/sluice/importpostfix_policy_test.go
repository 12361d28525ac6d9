package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// policyStagesOf returns the draft's policy stages' configs by name, and
// every stage's name in order.
func policyStagesOf(t *testing.T, out string) (map[string]map[string]any, []string) {
	t.Helper()
	cfg, err := config.Parse("sluice.toml", []byte(out))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	got := map[string]map[string]any{}
	var names []string
	for _, s := range cfg.Stages {
		names = append(names, s.Name)
		if s.Plugin == "policy" {
			got[s.Name] = s.Config
		}
	}
	return got, names
}

// check_policy_service in the restriction lists becomes a policy stage
// each, asked at its list's hook, with main.cf's smtpd_policy_service_*
// and the { … } settings that override them; permit_mynetworks and
// permit_sasl_authenticated before it keep the skips on, their absence
// turns them off; a server master.cf spawns is listed, unix:private/…
// is under queue_directory; the draft passes check-config, the policy
// plugin's own checks included.
func TestImportPostfixPolicy(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the first-party plugins: this test binary as sluice
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\n" +
			"smtpd_client_restrictions = check_policy_service inet:127.0.0.1:10040\n" +
			"smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination,\n" +
			"    check_policy_service inet:127.0.0.1:10023,\n" +
			"    check_policy_service { unix:private/policyd-spf, timeout=10s, default_action=DUNNO, frobnicate=1 }\n" +
			"smtpd_end_of_data_restrictions = check_policy_service {\n" +
			"    inet:127.0.0.1:10040,\n" +
			"    { default_action = 451 4.3.5 See http://www.example.com/support1 } }\n" +
			"smtpd_policy_service_max_idle = 60\n" +
			"smtpd_policy_service_request_limit = 1\n" +
			"smtpd_policy_service_try_limit = 3\n" +
			"smtpd_policy_service_policy_context = mx\n",
		"master.cf": "smtp inet n - y - - smtpd\n" +
			"policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := policyStagesOf(t, out)
	common := map[string]any{"max_idle": "60s", "request_limit": int64(1), "try_limit": int64(3), "policy_context": "mx"}
	want := map[string]map[string]any{
		"policy":   {"server": "inet:127.0.0.1:10040", "hooks": []any{"connect"}, "skip_authenticated": false, "skip_relay_clients": false},
		"policy-2": {"server": "inet:127.0.0.1:10023", "hooks": []any{"rcpt"}},
		"policy-3": {"server": "unix:/var/spool/postfix/private/policyd-spf", "hooks": []any{"rcpt"}, "timeout": "10s", "default_action": "DUNNO"},
		"policy-4": {"server": "inet:127.0.0.1:10040", "hooks": []any{"end-of-data"}, "default_action": "451 4.3.5 See http://www.example.com/support1",
			"skip_authenticated": false, "skip_relay_clients": false},
	}
	for name, w := range want {
		for k, v := range common {
			w[k] = v
		}
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("stage %s: %v, want %v", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d policy stages, want %d:\n%s", len(got), len(want), out)
	}
	for _, l := range []string{
		"check_policy_service unix:private/policyd-spf in smtpd_recipient_restrictions\n#       master.cf runs this server under spawn(8) (policyd-spf unix … spawn user=policyd-spf argv=/usr/bin/policyd-spf)",
		"check_policy_service unix:private/policyd-spf frobnicate=1\n#       none: the policy stage's keys",
	} {
		if !strings.Contains(out, l) {
			t.Errorf("draft lacks %q:\n%s", l, out)
		}
	}
	// The lists are carried whole: policy stages, their skips, built-in
	// relay control.
	if listed := notCarried(t, out); slices.ContainsFunc(listed, func(s string) bool {
		return strings.HasPrefix(s, "smtpd_policy_service_") || strings.HasSuffix(strings.TrimSuffix(s, ":"), "_restrictions")
	}) {
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

// A policy stage goes before the verify stages when its
// check_policy_service comes before reject_unverified_recipient (in the
// same list, or in smtpd_relay_restrictions, which Postfix evaluates
// first), after them otherwise; without check_policy_service the
// smtpd_policy_service_* parameters are listed, saying so.
func TestImportPostfixPolicyOrder(t *testing.T) {
	for _, c := range []struct {
		lists string
		want  []string
	}{
		{"smtpd_recipient_restrictions = reject_unverified_recipient, check_policy_service inet:127.0.0.1:10023\n", []string{"verify", "policy"}},
		{"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10023, reject_unverified_recipient\n", []string{"policy", "verify"}},
		{"smtpd_relay_restrictions = check_policy_service inet:127.0.0.1:10023\nsmtpd_recipient_restrictions = reject_unverified_recipient\n", []string{"policy", "verify"}},
		{"smtpd_relay_restrictions = reject_unverified_recipient\nsmtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10023\n", []string{"verify", "policy"}},
	} {
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf":   "myhostname = gw.example.org\nrelay_domains = example.org\nrelayhost = [exchange.internal]\n" + c.lists,
			"master.cf": "smtp inet n - y - - smtpd\n",
		})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		if _, names := policyStagesOf(t, out); !slices.Equal(names, c.want) {
			t.Errorf("%s: stages %q, want %q", c.lists, names, c.want)
		}
	}

	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf":   "myhostname = gw.example.org\nsmtpd_policy_service_timeout = 10s\n",
		"master.cf": "smtp inet n - y - - smtpd\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if l := "smtpd_policy_service_timeout = 10s\n#       a policy stage's, for check_policy_service, which no restriction list names"; !strings.Contains(out, l) {
		t.Errorf("draft lacks %q:\n%s", l, out)
	}
}

func TestPfRestrictionList(t *testing.T) {
	got := pfRestrictionList("permit_mynetworks,reject_unauth_destination check_policy_service { inet:h:1, { default_action = 451 4.3.5 a, b } },\n\tcheck_policy_service unix:private/p")
	want := []string{"permit_mynetworks", "reject_unauth_destination", "check_policy_service", "{ inet:h:1, { default_action = 451 4.3.5 a, b } }", "check_policy_service", "unix:private/p"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	ep, settings := pfPolicySpec(want[3])
	if ep != "inet:h:1" || !slices.Equal(settings, []string{"default_action = 451 4.3.5 a, b"}) {
		t.Errorf("spec: %q %q", ep, settings)
	}
}
