package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A config mistake stops the stage at start, naming the key, so that
// check-config shows it at its line.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ config, key, want string }{
		{`{}`, "next_hop", "required"},
		{`{"next_hop": "lmtp:udp:10.0.0.5"}`, "next_hop", "want lmtp:tcp"},
		{`{"next_hop": "[mail.example.org]:99999"}`, "next_hop", "next_hop"},
		{`{"next_hop": "smtp:[mail.example.org]:25?tls=dane"}`, "next_hop", "cannot check DANE"},
		{`{"next_hop": "smtp:[mail.example.org]:587?authfile=/etc/passwd"}`, "next_hop", "authfile= does not apply"},
		{`{"next_hop": "smtp:[mail.example.org]:25?tls=verify&ca=/nonexistent/ca.pem"}`, "next_hop", "ca="},
		{`{"next_hop": "lmtp:unix:run/lmtp"}`, "next_hop", "absolute"},
		{`{"next_hop": "mail.example.org", "reject_code": 250}`, "reject_code", "want a 4xx"},
		{`{"next_hop": "mail.example.org", "tempfail_action": "reject"}`, "tempfail_action", "want defer or accept"},
		{`{"next_hop": "mail.example.org", "sender": "nobody"}`, "sender", "want an address"},
		{`{"next_hop": "mail.example.org", "helo": "two words"}`, "helo", "host name"},
		{`{"next_hop": "mail.example.org", "domains": ["exa mple.org"]}`, "domains", "want a domain"},
		{`{"next_hop": "mail.example.org", "max_entries": -5}`, "max_entries", "-1 for no cap"},
		{`{"next_hop": "mail.example.org", "max_probes": -5}`, "max_probes", "-1 for no cap"},
		{`{"next_hop": "mail.example.org", "timeout": "soon"}`, "timeout", "want a duration"},
		{`{"next_hop": "mail.example.org", "negative_expire_time": "0s"}`, "negative_expire_time", "want a duration"},
		{`{"next_hop": "mail.example.org", "tempfail_refresh_time": "-5m"}`, "tempfail_refresh_time", "0s to keep nothing"},
		{`{"next_hop": "mail.example.org", "cache": true}`, "cache", "unknown field"},
	} {
		_, err := start(t, &Plugin{}, tc.config, "")
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || ce.Key() != tc.key {
			t.Errorf("%s: %v (key %q), want %q at key %s", tc.config, err, keyOf(ce), tc.want, tc.key)
		}
	}
}

func keyOf(ce *sdk.ConfigError) string {
	if ce == nil {
		return ""
	}
	return ce.Key()
}

// The accepted spellings of next_hop and their defaults.
func TestConfigNextHop(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.org":                    "smtp:mail.example.org",
		"[mail.example.org]:2525":             "smtp:mail.example.org:2525",
		"192.0.2.7:25":                        "smtp:192.0.2.7:25",
		"smtp:[mail.example.org]:25":          "smtp:mail.example.org:25",
		"lmtp:tcp:10.0.0.5":                   "lmtp:tcp:10.0.0.5:24",
		"lmtp:inet:10.0.0.5:2424":             "lmtp:tcp:10.0.0.5:2424",
		"lmtp:unix:/run/dovecot/lmtp":         "lmtp:unix:/run/dovecot/lmtp",
		"smtp:[mx.example.org]:25?tls=verify": "smtp:mx.example.org:25?tls=verify",
	} {
		got, err := parseNextHop(in)
		if err != nil || got != want {
			t.Errorf("next_hop %q: %q, %v; want %q", in, got, err, want)
		}
	}
	s, err := compile(Config{NextHop: "mail.example.org"}, "gw.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.sender != "double-bounce@gw.example.org" || s.helo != "gw.example.org" || s.rejectCode != 450 || s.acceptUnknown ||
		!s.skipAuth || !s.skipRelay || s.maxEntries != 100000 || s.timeout.String() != "4s" || s.tempRefresh != 3*time.Hour {
		t.Errorf("defaults: %+v", s)
	}
}
