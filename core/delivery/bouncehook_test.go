package delivery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// TestBounceHookResultKept: what the bounce hook made of a report is
// kept: its trace is stored under the report's id (with the report in
// the same commit, or alone when a stage dropped it), and a quarantined
// report is queued in state quarantined, not delivered.
func TestBounceHookResultKept(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("keep@dest.test", "drop@dest.test", "quar@dest.test")})
	h.opt.Config.Relay = s.addr
	var mu sync.Mutex
	reports := map[string]string{} // failed recipient -> report id
	h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		res := pipeline.BounceResult{Body: body, Trace: fmt.Appendf(nil, `{"id":%q,"outcome":"traced"}`, r.ID)}
		for _, who := range []string{"keep", "drop", "quar"} {
			if strings.Contains(string(body), who+"@dest.test") {
				mu.Lock()
				reports[who] = r.ID
				mu.Unlock()
				switch who {
				case "drop":
					res.Body, res.Drop = nil, true
				case "quar":
					// Routed by a stage, which is stored with the route
					// (only that stage may change it at deliver).
					res.Quarantine = true
					res.Routes = map[string]string{"s@origin.test": "lmtp:tcp:127.0.0.1:24"}
					res.RoutesBy = map[string]string{"s@origin.test": "route"}
				}
			}
		}
		return res, nil
	}
	h.start()
	for _, who := range []string{"keep", "drop", "quar"} {
		h.recorded(h.enqueue(msg("s@origin.test", who+"@dest.test")))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, who := range []string{"keep", "drop", "quar"} {
		id := reports[who]
		deadline := time.Now().Add(waitLimit)
		for {
			tr, err := h.q.Trace(id)
			if err == nil && strings.Contains(string(tr), `"outcome":"traced"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: report %s: trace %q, %v", who, id, tr, err)
			}
			<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
		}
	}
	if m, err := h.q.Get(reports["quar"]); err != nil || m.State != envelope.StateQuarantined {
		t.Errorf("quarantined report: %+v, %v", m, err)
	} else if r := m.Rcpts[0]; r.Route != "lmtp:tcp:127.0.0.1:24" || r.RouteBy != "route" {
		t.Errorf("quarantined report's recipient routed %q by %q, want the bounce hook's route and stage", r.Route, r.RouteBy)
	}
	if _, err := h.q.Get(reports["drop"]); err == nil {
		t.Error("dropped report queued")
	}
}
