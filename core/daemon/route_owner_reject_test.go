package daemon

import (
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
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestDeliverRejectLeavesAnotherStagesRoute: a route rule changed to
// reject and reloaded fails the queued recipients the route stage routed,
// but not one whose route another stage set at reception (a quarantine
// relay): the core tells the route stage so (route_set_by_other), and it
// leaves that recipient alone, which goes to the quarantine relay at the
// retry instead of bouncing.
func TestDeliverRejectLeavesAnotherStagesRoute(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	relay := testlib.NewSink(t, "127.0.0.1:0") // the default route: bounces to alice@sluice.test
	quarantine := testlib.NewSink(t, "127.0.0.1:0")
	quarantine.OnRcpt(func(string) error { return testlib.Temp }) // until the test says
	dead := fmt.Sprintf("smtp:127.0.0.1:%d", freePort(t))         // nothing listens there
	qRoute := "smtp:" + quarantine.Addr
	actor := actorStage(t, "quarantine", fmt.Sprintf(`{"data": {"suspicious": {"edits": [{"op": "set_route", "addr": "q@moved.test", "route": %q}]}}}`, qRoute), "")
	dataDir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(t.TempDir(), "sluice.toml")
	configure := func(rule string) {
		t.Helper()
		src := reloadBase(dataDir, mxListener+relayTo(relay)+`[[stage]]
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
	configure(fmt.Sprintf("transport = %q", dead))
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(Options{Config: c, Logger: discardLog(), DrainTimeout: 5 * time.Second, ConfigPath: path, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	api := admin.NewClient("http://"+d.AdminAddr().String(), "")
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
	qID := deferred("suspicious", "q@moved.test", qRoute, "quarantine")
	aID := deferred("plain", "a@moved.test", dead, "route")

	quarantine.OnRcpt(nil)
	configure(`transport = "reject"` + "\nreply = \"550 5.1.6 This domain has moved away\"")
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
	bounce := relay.WaitN(t, 1, 10*time.Second)[0]
	if bounce.From != "" || !strings.Contains(string(bounce.Data), "a@moved.test") || !strings.Contains(string(bounce.Data), "550 5.1.6 This domain has moved away") {
		t.Fatalf("a@'s bounce from %q:\n%s", bounce.From, bounce.Data)
	}
	waitEmpty(t, d)
	for _, m := range relay.Deliveries() {
		if strings.Contains(string(m.Data), "q@moved.test") {
			t.Errorf("q@moved.test bounced:\n%s", m.Data)
		}
	}
	if n := len(relay.Deliveries()); n != 1 {
		t.Errorf("the relay got %d messages, want a@'s bounce alone", n)
	}
	if n := len(quarantine.Deliveries()); n != 1 {
		t.Errorf("the quarantine relay got %d messages, want q@'s, once", n)
	}
}
