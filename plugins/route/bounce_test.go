package route

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestBounceExpandsSingleAlias: a report to an address that is an alias
// of one target (or a catch-all's) goes to that target, as Postfix's
// virtual_alias_maps rewrites a bounce's recipient in cleanup, routed by
// the target's rule, its To field as made; an alias of several targets
// is left as it is, routed by its own rule. Before, no alias was
// expanded: a report to postmaster@, an alias to the administrator's
// mailbox elsewhere, went by MX back to this host.
func TestBounceExpandsSingleAlias(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org,lists.example.org")
	h := sdktest.New(t, &Plugin{}, `{
	  "aliases": {"postmaster@example.org": ["admin@gmail.test"],
	              "list@example.org": ["a@example.org", "b@example.org"],
	              "@lists.example.org": ["owner@example.org"]},
	  "rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24"},
	            {"match": "*", "transport": "smtp:relay.example.org:25"}]}`)
	for _, tc := range []struct{ rcpt, want, route string }{
		{"postmaster@example.org", "admin@gmail.test", "smtp:relay.example.org:25"},
		{"x@lists.example.org", "owner@example.org", "lmtp:tcp:127.0.0.1:24"},
		{"list@example.org", "list@example.org", "lmtp:tcp:127.0.0.1:24"},
		{"alice@example.org", "alice@example.org", "lmtp:tcp:127.0.0.1:24"},
	} {
		env, m, v := bounced(t, h, tc.rcpt)
		if got := rcptAddrs(env); !slices.Equal(got, []string{tc.want}) || env.Rcpts[0].Route != tc.route {
			t.Errorf("report to %s: %+v (%s), want to %s via %s", tc.rcpt, env.Rcpts, v.Reason, tc.want, tc.route)
		}
		if got := m.Get("To"); got != "<"+tc.rcpt+">" {
			t.Errorf("report to %s: To %q", tc.rcpt, got)
		}
	}
	if _, _, v := bounced(t, h, "list@example.org"); !strings.Contains(v.Reason, "its 2 targets left out") {
		t.Errorf("reason %q", v.Reason)
	}
}
