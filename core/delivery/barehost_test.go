package delivery

import (
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A smarthost written as Postfix writes relayhost and transport next
// hops, "[host]" or "smtp:[host]" without a port, goes to [delivery]
// port (25 outside tests); Postfix's tls=may is opportunistic TLS.
func TestBareHostRelayAndRouteUseDeliveryPort(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	routed := h.sinkAt("127.0.0.2", sinkOptions{})
	h.opt.Config.Relay = "[127.0.0.1]"
	h.start()
	id := h.enqueue(withRoutes("s@origin.test",
		"a@dest.test", "",
		"b@dest.test", "smtp:[127.0.0.2]?tls=may",
		"c@other.test", "smtp:127.0.0.2",
	))
	if got := waitMsg(t, relay); !slices.Equal(got.rcpts, []string{"a@dest.test"}) {
		t.Errorf("relay [127.0.0.1] got %q", got.rcpts)
	}
	// One destination: smtp:[host] and smtp:host are one host, and
	// tls=may is the default policy.
	if got := waitMsg(t, routed); !slices.Equal(got.rcpts, []string{"b@dest.test", "c@other.test"}) {
		t.Errorf("route smtp:[127.0.0.2] got %q, want both in one transaction", got.rcpts)
	}
	rec := h.recorded(id)
	for _, a := range []string{"a@dest.test", "b@dest.test", "c@other.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s: %+v, want delivered", a, r)
		}
	}
}
