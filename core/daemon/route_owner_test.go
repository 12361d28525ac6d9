package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestDeliverKeepsAnotherStagesRoute: a route a stage after route set at
// reception (a quarantine relay for suspicious mail) is that stage's: a
// route rule for its address, changed and reloaded, does not take the
// queued message away from it at the next attempt, as Postfix keeps a
// message's FILTER transport over transport_maps: the route stage, told
// the route is another's (route_set_by_other), asks for no new route, so
// the trace lists no edit at deliver. A route the route stage set itself
// still follows the changed rule.
func TestDeliverKeepsAnotherStagesRoute(t *testing.T) {
	live := testlib.NewSink(t, "127.0.0.1:0")
	rig := startRouteOwnerRig(t)
	d, api, quarantine, qID, aID := rig.d, rig.api, rig.quarantine, rig.qID, rig.aID
	rig.configure(fmt.Sprintf("transport = %q", "smtp:"+live.Addr))
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{qID, aID} {
		if _, _, err := api.Action(id, "retry"); err != nil {
			t.Fatal(err)
		}
	}
	q := quarantine.WaitN(t, 1, 10*time.Second)
	if !slices.Equal(q[0].Rcpts, []string{"q@moved.test"}) || !strings.Contains(string(q[0].Data), "Subject: suspicious") {
		t.Fatalf("the quarantine relay got %q:\n%s", q[0].Rcpts, q[0].Data)
	}
	got := live.WaitN(t, 1, 10*time.Second)
	if !slices.Equal(got[0].Rcpts, []string{"a@moved.test"}) {
		t.Fatalf("the rule's new server got %q, want a@moved.test's message", got[0].Rcpts)
	}
	waitEmpty(t, d)
	if n := len(live.Deliveries()); n != 1 {
		t.Errorf("the rule's new server got %d messages, want a@'s alone", n)
	}
	var tr pipeline.Trace
	if raw, err := d.Queue().Trace(qID); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var edits []string
	for _, ev := range tr.Deliveries {
		if ev.Destination == "deliver hook" {
			for _, te := range ev.Stages {
				edits = append(edits, te.Edits...)
			}
		}
	}
	if len(edits) != 0 {
		t.Errorf("q@'s trace edits at deliver %q, want none: the route stage leaves another's route alone", edits)
	}
}

// routeOwnerRig is the daemon of the route-ownership tests: a route stage
// whose rule for moved.test configure writes (then ReloadFile reads),
// and after it a quarantine stage that routes q@moved.test's "suspicious"
// mail to the quarantine sink, which refuses until the test says. qID (q@,
// route set by the quarantine stage) and aID (a@, by the route stage, to a
// port nothing listens on) are queued, deferred once on those routes. The
// default route is the relay sink.
type routeOwnerRig struct {
	d                 *Daemon
	api               *admin.Client
	relay, quarantine *testlib.Sink
	qID, aID          string
	configure         func(rule string)
}

func startRouteOwnerRig(t *testing.T) *routeOwnerRig {
	t.Helper()
	self := testlib.Build(t, "./cmd/sluice")
	r := &routeOwnerRig{relay: testlib.NewSink(t, "127.0.0.1:0"), quarantine: testlib.NewSink(t, "127.0.0.1:0")}
	r.quarantine.OnRcpt(func(string) error { return testlib.Temp }) // until the test says
	dead := fmt.Sprintf("smtp:127.0.0.1:%d", freePort(t))           // nothing listens there
	qRoute := "smtp:" + r.quarantine.Addr
	actor := actorStage(t, "quarantine", fmt.Sprintf(`{"data": {"suspicious": {"edits": [{"op": "set_route", "addr": "q@moved.test", "route": %q}]}}}`, qRoute), "")
	dataDir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(t.TempDir(), "sluice.toml")
	r.configure = func(rule string) {
		t.Helper()
		src := reloadBase(dataDir, mxListener+relayTo(r.relay)+`[[stage]]
name = "route"
plugin = "route"
[stage.config]
[[stage.config.rules]]
match = "moved.test"
`+rule+"\n"+actor)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.configure(fmt.Sprintf("transport = %q", dead))
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(Options{Config: c, Logger: discardLog(), DrainTimeout: 5 * time.Second, ConfigPath: path, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	r.d, r.api = d, admin.NewClient("http://"+d.AdminAddr().String(), "")
	deferred := func(subject, rcpt, route, by string) string {
		t.Helper()
		reply, err := send(t, d, subject, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		id := queuedID(t, reply)
		waitMessage(t, d, id, fmt.Sprintf("deferred on %s, set by %s", route, by), func(m *envelope.Message) bool {
			p := m.Pending()
			return m.Attempts == 1 && len(p) == 1 && p[0].Route == route && p[0].RouteBy == by
		})
		return id
	}
	r.qID = deferred("suspicious", "q@moved.test", qRoute, "quarantine")
	r.aID = deferred("plain", "a@moved.test", dead, "route")
	r.quarantine.OnRcpt(nil)
	return r
}
