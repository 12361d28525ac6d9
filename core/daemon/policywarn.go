package daemon

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/plugins/policy"
)

// policyTimeWarnings warns of each policy stage whose timeout (or
// data_timeout, at the data hook) cannot hold the tries its config asks
// for: try_limit tries of timeout each, retry_delay apart, Postfix's
// 100s × 2 + 1s by default. The plugin answers default_action before the
// stage's timeout runs out, so such a stage is valid, and it may be
// meant (a site that would rather defer in 5s than hold the client
// 201s), but one written from Postfix's settings would give a slow
// server (policyd-spf's DNS, a busy postfwd) less time and fewer tries
// than Postfix did, silently: a warning, which check-config prints and
// the daemon logs at start and at each reload, as its others about what
// is valid but probably not meant. The plugin is not told its stage's
// timeouts, so the config is held against its own.
func policyTimeWarnings(c *config.Config) []string {
	var out []string
	for _, s := range c.Stages {
		if s.Plugin != "policy" {
			continue // a path is another plugin; a milter has no config
		}
		js, err := json.Marshal(s.Config)
		if err != nil {
			continue
		}
		n, err := policy.NeedsOf(js)
		if err != nil {
			continue // the plugin refuses it itself
		}
		for _, h := range []struct {
			key      string
			t        time.Duration
			requests int
		}{
			{"timeout", s.Timeout.Duration, n.Call},
			{"data_timeout", s.DataTimeout.Duration, n.Data},
		} {
			if h.requests == 0 || n.Fits(h.t, h.requests) {
				continue
			}
			twice := ""
			if h.requests > 1 {
				twice = ", twice that for data and end-of-data, asked in turn at the data hook"
			}
			out = append(out, fmt.Sprintf("stage %s: its %s (%s) is shorter than the policy server's tries take: "+
				"try_limit %d tries of timeout %s, retry_delay %s apart, %s%s, Postfix's wait before default_action answers; "+
				"the stage answers default_action to a slow server sooner, after fewer tries. %s = %q holds them "+
				"(import-postfix writes that), or lower the [stage.config] timeout or try_limit",
				s.Name, h.key, h.t, n.TryLimit, n.Timeout, n.RetryDelay, n.Tries(), twice, h.key, policy.TimeoutText(n.StageTimeout(h.requests))))
		}
	}
	return out
}
