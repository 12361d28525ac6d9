package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/plugins/policy"
)

// pfPolicyTries are the settings that say how long Postfix waits for a
// policy server before default_action answers: try_limit tries of
// timeout each, retry_delay apart (attr_clnt_request), each with where
// it came from.
type pfPolicyTries struct {
	b    policy.Budget
	from map[string]string // by setting name: "3 (smtpd_policy_service_try_limit)"
}

// pfPolicyTriesOf starts with Postfix's defaults (postconf(5)), which
// the stage's are too (policy.DefaultBudget).
func pfPolicyTriesOf() *pfPolicyTries {
	b := policy.DefaultBudget()
	return &pfPolicyTries{
		b: b,
		from: map[string]string{
			"timeout":     policy.TimeoutText(b.Timeout) + " (Postfix's default)",
			"try_limit":   fmt.Sprint(b.TryLimit) + " (Postfix's default)",
			"retry_delay": policy.TimeoutText(b.RetryDelay) + " (Postfix's default)",
		},
	}
}

// set takes a setting written into the stage's config: a time (d) or a
// count (n), text as the draft writes it.
func (t *pfPolicyTries) set(name, from, text string, d time.Duration, n int) {
	switch name {
	case "timeout":
		t.b.Timeout = d
	case "retry_delay":
		t.b.RetryDelay = d
	case "try_limit":
		t.b.TryLimit = n
	default:
		return
	}
	t.from[name] = text + " (" + from + ")"
}

// write writes the stage's timeout, long enough for every try.
//
// The stage's timeout (5s by default) bounds each call to the plugin,
// and the plugin answers default_action a little before it ends, so
// that Postfix's 100s a try would be cut to under 5s, and the second
// try, which smtpd_policy_service_try_limit asks for, never made: a
// policyd-spf doing DNS look-ups, or a busy postfwd, would get
// default_action (a 451, by Postfix's default) where Postfix waited for
// its answer. The stage's timeout holds them all instead, as long as
// Postfix waits, and the moment the plugin keeps to answer.
func (t *pfPolicyTries) write(b *strings.Builder) {
	from := fmt.Sprintf("the whole call, which the stage's timeout bounds: try_limit %s tries of timeout %s, retry_delay %s apart, %s, "+
		"Postfix's wait for the server before default_action answers, and a moment for the stage to answer it; "+
		"the default 5s would cut a slow server's tries short", t.from["try_limit"], t.from["timeout"], t.from["retry_delay"], policy.TimeoutText(t.b.Tries()))
	kv(b, from, "timeout", tomlStr(policy.TimeoutText(t.b.StageTimeout(1))))
}
