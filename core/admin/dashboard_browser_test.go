package admin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
)

// TestDashboardInChromium drives the embedded dashboard in Debian's
// headless chromium: paste the token, see the queued message, hold and
// release it with the row's buttons (checked in the store), filter the
// list, open the message's trace. Every request the page makes must go to
// the admin API itself: the dashboard works without internet access.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium(t)

	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	m := &envelope.Message{ID: q.NewID(), From: "alice@example.org", Received: time.Now().Add(-time.Minute),
		Rcpts: []envelope.Recipient{{Addr: "bob@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("Subject: hi\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	id := m.ID
	trace, _ := json.Marshal(map[string]any{"id": id, "outcome": "queued", "entries": []map[string]any{
		{"stage": "spf", "hook": "mail", "action": "continue", "latency_ms": 1.5},
		{"stage": "tag", "hook": "data", "action": "continue", "edits": []string{"add header X-Tag: yes"}, "latency_ms": 0.25},
	}})
	const token = "s3cret"
	srv := httptest.NewServer(Handler(Options{Queue: q, NotFound: queue.ErrNotFound, Token: token,
		Version: "test",
		Trace: func(tid string) ([]byte, error) {
			if tid != id {
				return nil, queue.ErrNotFound
			}
			return trace, nil
		},
		// The daemon's own type, so that the page reads the JSON names
		// GET /api/pipeline really has.
		Pipeline: func() any {
			return []pipeline.StageStatus{{Name: "spf", Kind: "plugin", State: "running", Calls: 3,
				Restarts: 1, P50: "1ms", P99: "4ms"},
				{Name: "dkimsign", Kind: "milter", State: "running", Listeners: []string{"submission", "smtps"},
					SkipNetworks: []string{"192.168.0.0/16", "10.1.2.3/32"}, DryRun: true}}
		},
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	started := time.Now()
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%-28s %v", name, time.Since(started).Round(time.Millisecond))
	}
	b := startBrowser(t, bin)
	p, err := b.newPage(ctx)
	step("browser up", err)

	step("load page", p.navigate(ctx, srv.URL+"/"))
	step("token form shown", p.waitJS(ctx, "the token form", `document.getElementById('auth').classList.contains('show')`))
	step("type token", p.typeText(ctx, "#token", token))
	step("submit token", p.click(ctx, "#auth button"))

	row := `document.getElementById('msg-` + id + `')`
	step("message row", p.waitJS(ctx, "the queued message's row", row+` && `+row+`.dataset.state === 'active'`))
	step("counts and domains", p.waitJS(ctx, "counts and destinations",
		`document.querySelector('[data-count=active]').textContent === '1' && document.getElementById('domains').textContent.includes('example.net')`))
	step("pipeline table", p.waitJS(ctx, "the pipeline table", `document.getElementById('stage-spf') && document.getElementById('stage-spf').textContent.includes('4ms')`))
	// A stage's listeners, or "all" for one serving every listener, and
	// under them its skip_networks.
	step("stage listeners", p.waitJS(ctx, "each stage's listeners",
		`document.getElementById('stage-spf').cells[3].textContent === 'all' && document.querySelector('#stage-dkimsign .listeners').textContent === 'submission, smtps'`))
	step("stage skip_networks", p.waitJS(ctx, "each stage's skip_networks",
		`!document.querySelector('#stage-spf .skip-networks') && document.getElementById('stage-dkimsign').cells[3].textContent === 'submission, smtpsskips 192.168.0.0/16, 10.1.2.3/32'`))
	// A marker in State for a stage in dry run.
	step("stage dry run", p.waitJS(ctx, "the dry run marker in State",
		`document.getElementById('stage-spf').cells[4].textContent === 'running' && !document.querySelector('#stage-spf .dry-run') &&
		 document.getElementById('stage-dkimsign').cells[4].textContent === 'runningdry run' && document.querySelector('#stage-dkimsign td:nth-child(5) .dry-run')`))

	step("click hold", p.click(ctx, `button[data-action="hold"][data-id="`+id+`"]`))
	step("store says held", waitState(ctx, q, id, envelope.StateHeld))
	step("page says held", p.waitJS(ctx, "the row to show held", row+` && `+row+`.dataset.state === 'held'`))

	step("click release", p.click(ctx, `button[data-action="release"][data-id="`+id+`"]`))
	step("store says active", waitState(ctx, q, id, envelope.StateActive))
	step("page says active", p.waitJS(ctx, "the row to show active", row+` && `+row+`.dataset.state === 'active'`))

	step("search no match", p.typeText(ctx, "#search", "nobody@nowhere"))
	step("row filtered out", p.waitJS(ctx, "the row to be filtered out", `!`+row))
	step("search match", p.eval(ctx, `(() => { const s = document.getElementById('search'); s.value = 'bob@EXAMPLE'; s.dispatchEvent(new Event('input')); })()`, nil))
	step("row back", p.waitJS(ctx, "the row to match the search", row))

	step("open trace", p.click(ctx, `#msg-`+id+` a`))
	step("trace shown", p.waitJS(ctx, "the trace table",
		`document.getElementById('trace').classList.contains('show') && document.getElementById('trace-rows').textContent.includes('add header X-Tag: yes')`))

	if out := os.Getenv("SLUICE_DASHBOARD_SCREENSHOT"); out != "" { // a PNG to look at
		var shot struct {
			Data []byte `json:"data"`
		}
		step("screenshot", p.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot))
		if err := os.WriteFile(out, shot.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkPageStayedLocal(t, b, srv.URL)
}

// checkPageStayedLocal fails the test if the page threw an exception or
// fetched anything but the admin API at base.
func checkPageStayedLocal(t *testing.T, b *browser, base string) {
	t.Helper()
	for _, e := range b.eventsOf("Runtime.exceptionThrown") {
		t.Errorf("page exception: %s", e.Params)
	}
	for _, e := range b.eventsOf("Network.requestWillBeSent") {
		var r struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		_ = json.Unmarshal(e.Params, &r)
		if u := r.Request.URL; !strings.HasPrefix(u, base+"/") && u != "about:blank" {
			t.Errorf("the page fetched %s: the dashboard must need nothing outside the admin API", u)
		}
	}
}

func waitState(ctx context.Context, q *queue.Store, id string, want envelope.State) error {
	for {
		m, err := q.Get(id)
		if err != nil {
			return err
		}
		if m.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
