package route

import (
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// A rule's mx transport with parameters (rate_delay=, recipient_limit=,
// source=) is the default route with those: it is set at RCPT and at
// each attempt, as mx?tls= is; only a bare mx leaves the route alone.
// The parameters were dropped, so README's mx?recipient_limit=10 sent
// [delivery]'s 50 a transaction and mx?rate_delay=1m did not pace.
func TestMXTransportKeepsParameters(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"rules": [
    {"match": "slow.test", "transport": "mx?rate_delay=1m"},
    {"match": "few.test", "transport": "mx?recipient_limit=10"},
    {"match": "bound.test", "transport": "mx?source=192.0.2.7"},
    {"match": "*", "transport": "mx"}
  ]}`)
	for _, tc := range []struct{ rcpt, route string }{
		{"a@slow.test", "mx?rate_delay=1m0s"},
		{"b@few.test", "mx?recipient_limit=10"},
		{"c@bound.test", "mx?source=192.0.2.7"},
		{"d@other.test", ""},
	} {
		v := h.Rcpt(sdktest.NewTxn("s@origin.test"), tc.rcpt)
		if v.Action != sdk.ActionContinue || routeOf(v, tc.rcpt) != tc.route {
			t.Errorf("rcpt %s: %v route %q, want continue route %q", tc.rcpt, v.Action, routeOf(v, tc.rcpt), tc.route)
		}
		// At an attempt, a recipient queued with the default route.
		v = h.Deliver(sdktest.NewTxn("s@origin.test"), sdk.Recipient{Addr: tc.rcpt})
		if tc.route == "" && !v.PlainContinue() || routeOf(v, tc.rcpt) != tc.route {
			t.Errorf("deliver %s: %+v, want route %q", tc.rcpt, v, tc.route)
		}
	}
}
