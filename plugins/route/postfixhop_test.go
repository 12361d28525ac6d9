package route

import (
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestTransportsAsPostfixWritesThem: a transport_maps next hop copied
// as Postfix writes it, smtp:[host] or smtp:host without a port and
// Postfix's tls level names, sets the route delivery reads (a portless
// one goes to [delivery] port); a probe needs the port, which the
// plugin is not told.
func TestTransportsAsPostfixWritesThem(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"rules": [
	    {"match": "a.test", "transport": "smtp:[relay.a.test]"},
	    {"match": "b.test", "transport": "smtp:relay.b.test?tls=encrypt"},
	    {"match": "c.test", "transport": "smtp:[relay.c.test]:587?tls=secure"},
	    {"match": "d.test", "transport": "mx?tls=may"}
	]}`)
	for rcpt, want := range map[string]string{
		"x@a.test": "smtp:relay.a.test",
		"x@b.test": "smtp:relay.b.test?tls=required",
		"x@c.test": "smtp:relay.c.test:587?tls=verify",
		"x@d.test": "mx", // = the default route, as mx?tls=opportunistic
	} {
		v := h.Rcpt(sdktest.NewTxn("s@origin.test"), rcpt)
		if v.Action != sdk.ActionContinue || routeOf(v, rcpt) != want {
			t.Errorf("%s: %v route %q, want route %q (%s)", rcpt, v.Action, routeOf(v, rcpt), want, v.Reason)
		}
	}
	for _, cfg := range []string{
		`{"rules": [{"match": "x.test", "transport": "smtp:[relay.x.test]", "probe": true}]}`,
		`{"rules": [{"match": "x.test", "transport": "smtp:relay.x.test?tls=none"}]}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "x.test", "transport": "smtp:[relay.x.test]:25", "probe": true}]}`); err != nil {
		t.Errorf("probe with a port: %v", err)
	}
}
