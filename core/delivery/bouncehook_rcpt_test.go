package delivery

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// TestBounceHookReplacedRecipient: a report whose recipient the bounce
// hook replaced (the route plugin, an SRS address by the sender it stands
// for) is queued for the new address and goes by the route the hook set
// for it. Before, the report went to the address it was made for, by the
// default route, here the relay.
func TestBounceHookReplacedRecipient(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	mailbox := h.sinkAt("127.0.0.2", sinkOptions{})
	h.opt.Config.Relay = relay.addr
	const srs = "SRS0=HHHH=TT=origin.test=carol@example.org"
	h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		if len(r.Rcpts) != 1 || r.Rcpts[0].Addr != srs {
			return pipeline.BounceResult{Body: body}, nil
		}
		return pipeline.BounceResult{Body: body, Rcpts: []string{"carol@origin.test"},
			Routes:   map[string]string{"carol@origin.test": fmt.Sprintf("smtp:[127.0.0.2]:%d", h.port)},
			RoutesBy: map[string]string{"carol@origin.test": "route"}}, nil
	}
	h.start()
	h.enqueue(msg(srs, "bad@dest.test"))
	d := waitReport(t, mailbox)
	if d.msg.from != "" || !slices.Equal(d.msg.rcpts, []string{"carol@origin.test"}) {
		t.Errorf("report envelope %q → %q, want <> → carol@origin.test", d.msg.from, d.msg.rcpts)
	}
	d.rcpt(t, "bad@dest.test") // the report it was
	for _, m := range relay.messages() {
		if slices.Contains(m.rcpts, srs) {
			t.Errorf("the relay got the report to <%s>", srs)
		}
	}
}
