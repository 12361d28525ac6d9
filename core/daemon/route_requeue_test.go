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

// TestChangedRouteAppliesToQueuedMail: as Postfix's transport_maps apply
// to deferred mail at its next try after a reload, a route rule changed
// and reloaded applies to mail already queued: a message deferred on a
// mailbox server that is gone goes, at the retry an administrator asks
// for, to the server the rule names now, exactly once, and the route is
// stored; a rule changed to reject fails the queued recipient, with a
// bounce to the sender quoting the rule's reply.
func TestChangedRouteAppliesToQueuedMail(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	relay := testlib.NewSink(t, "127.0.0.1:0") // the default route: bounces to alice@sluice.test
	live := testlib.NewSink(t, "127.0.0.1:0")
	dead := fmt.Sprintf("smtp:127.0.0.1:%d", freePort(t)) // nothing listens there
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
`+rule+"\n")
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
	deferred := func(subject, rcpt string) string {
		t.Helper()
		reply, err := send(t, d, subject, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		id := queuedID(t, reply)
		waitMessage(t, d, id, "deferred at the dead route", func(m *envelope.Message) bool {
			return m.Attempts == 1 && len(m.Pending()) == 1 && m.Pending()[0].Route == dead
		})
		return id
	}
	reload := func(rule string) {
		t.Helper()
		configure(rule)
		if err := d.ReloadFile(); err != nil {
			t.Fatal(err)
		}
	}

	id := deferred("moved", "a@moved.test")
	reload(fmt.Sprintf("transport = \"smtp:%s\"", live.Addr))
	if _, _, err := api.Action(id, "retry"); err != nil {
		t.Fatal(err)
	}
	got := live.WaitN(t, 1, 10*time.Second)
	if !slices.Equal(got[0].Rcpts, []string{"a@moved.test"}) || !strings.Contains(string(got[0].Data), "Subject: moved") {
		t.Fatalf("the live server got %q:\n%s", got[0].Rcpts, got[0].Data)
	}
	waitEmpty(t, d)
	var tr pipeline.Trace
	if raw, err := d.Queue().Trace(id); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var edits []string
	for _, ev := range tr.Deliveries {
		if ev.Destination == "deliver hook" && ev.Result == "rerouted" {
			for _, te := range ev.Stages {
				edits = append(edits, te.Edits...)
			}
		}
	}
	if want := fmt.Sprintf("to smtp:%s at deliver (was %s)", live.Addr, dead); len(edits) != 1 || !strings.Contains(edits[0], want) {
		t.Errorf("the trace's route change %q, want one %q", edits, want)
	}

	reload(fmt.Sprintf("transport = %q", dead))
	id = deferred("rejected", "b@moved.test")
	reload(`transport = "reject"` + "\nreply = \"550 5.1.6 This domain has moved away\"")
	if _, _, err := api.Action(id, "retry"); err != nil {
		t.Fatal(err)
	}
	bounce := relay.WaitN(t, 1, 10*time.Second)[0]
	if bounce.From != "" || !strings.Contains(string(bounce.Data), "b@moved.test") || !strings.Contains(string(bounce.Data), "550 5.1.6 This domain has moved away") {
		t.Fatalf("bounce from %q:\n%s", bounce.From, bounce.Data)
	}
	waitEmpty(t, d)
	if n := len(live.Deliveries()); n != 1 {
		t.Errorf("the live server got %d messages, want the one, once", n)
	}
}
