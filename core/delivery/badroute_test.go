package delivery

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A recipient whose route (set by a stage) does not parse waits for the
// stage to be fixed, and the log says why at each attempt: it belongs to
// no destination, so no "delivery attempt" line names it.
func TestUnparsableRouteIsLogged(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	var logs lockedBuffer
	h.logTo(&logs)
	h.start()
	m := msg("s@origin.test", "r@dest.test", "ok@dest.test")
	m.Rcpts[0].Route = "carrier-pigeon:coop"
	id := h.enqueue(m)
	got := h.recorded(id)
	if r := rcpt(got, "r@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.3.5") {
		t.Fatalf("bad route: %+v, want pending with 451 4.3.5", r)
	}
	if r := rcpt(got, "ok@dest.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("the other recipient: %+v", r)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "route does not parse") {
			line = l
		}
	}
	for _, want := range []string{"id=" + id, "rcpt=r@dest.test", "route=carrier-pigeon:coop", "451 4.3.5"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}
