package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// TestDashboardPagesInChromium fills a queue with more messages than the
// dashboard's page (?limit=3) and checks in headless chromium that the
// page says how many are queued and how many it shows, that "next page"
// walks through all of them, that hold and release still work on a later
// page, and that "first page" and the state filter list the right ones.
func TestDashboardPagesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium(t)

	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	const n = 10 // pages of 3: 3, 3, 3, 1; held (every third): 0, 3, 6, 9
	var ids, held []string
	for i := range n {
		m := &envelope.Message{ID: q.NewID(), From: "alice@example.org", Received: time.Now().Add(-time.Minute),
			Rcpts: []envelope.Recipient{{Addr: fmt.Sprintf("r%d@example.net", i), Status: envelope.RcptPending}}}
		if i%3 == 0 {
			m.State = envelope.StateHeld
			held = append(held, m.ID)
		}
		if err := q.Enqueue(m, []byte("Subject: hi\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	srv := httptest.NewServer(Handler(Options{Queue: q, NotFound: queue.ErrNotFound, Version: "test"}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startBrowser(t, bin)
	p, err := b.newPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// showing waits until the table lists exactly want, in order, and the
	// line under it reads text; on a timeout it reports what the page shows.
	showing := func(name string, want []string, text string) {
		t.Helper()
		rows := make([]string, len(want))
		for i, id := range want {
			rows[i] = "msg-" + id
		}
		wantRows, _ := json.Marshal(rows)
		rowsLit, _ := json.Marshal(string(wantRows)) // a JS string literal of the JSON
		wantText, _ := json.Marshal(text)
		const got = `JSON.stringify({rows: [...document.querySelectorAll('#queue tr')].map(r => r.id),
			shown: document.getElementById('shown').textContent})`
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		defer wcancel()
		err := p.waitJS(wctx, name, `JSON.stringify([...document.querySelectorAll('#queue tr')].map(r => r.id)) === `+
			string(rowsLit)+` && document.getElementById('shown').textContent === `+string(wantText))
		if err != nil {
			var now string
			_ = p.eval(ctx, got, &now)
			t.Fatalf("%s: want rows %s and %s; the page shows %s", name, wantRows, wantText, now)
		}
	}
	disabled := func(id string) string { return `document.getElementById('` + id + `').disabled` }

	step("load page", p.navigate(ctx, srv.URL+"/?limit=3"))
	showing("page 1", ids[0:3], "page 1: 3 of 10 messages shown")
	step("total card", p.waitJS(ctx, "the total card", `document.querySelector('[data-count=total]').textContent === '10'`))
	step("pager on page 1", p.waitJS(ctx, "first/previous off, next on",
		disabled("page-first")+` && `+disabled("page-prev")+` && !`+disabled("page-next")))
	step("domains note", p.waitJS(ctx, "the domains note", `!document.getElementById('domains-note').hidden`))

	step("next", p.click(ctx, "#page-next"))
	showing("page 2", ids[3:6], "page 2: 3 of 10 messages shown")

	// Actions on a later page act on that message and stay on the page.
	id := ids[4]
	row := `document.getElementById('msg-` + id + `')`
	step("click hold", p.click(ctx, `button[data-action="hold"][data-id="`+id+`"]`))
	step("store says held", waitState(ctx, q, id, envelope.StateHeld))
	step("page says held", p.waitJS(ctx, "the row to show held", row+` && `+row+`.dataset.state === 'held'`))
	step("click release", p.click(ctx, `button[data-action="release"][data-id="`+id+`"]`))
	step("store says active", waitState(ctx, q, id, envelope.StateActive))
	step("page says active", p.waitJS(ctx, "the row to show active", row+` && `+row+`.dataset.state === 'active'`))
	showing("still page 2", ids[3:6], "page 2: 3 of 10 messages shown")

	step("next", p.click(ctx, "#page-next"))
	showing("page 3", ids[6:9], "page 3: 3 of 10 messages shown")
	step("next", p.click(ctx, "#page-next"))
	showing("page 4", ids[9:], "page 4: 1 of 10 messages shown")
	step("no next on the last page", p.waitJS(ctx, "next off, first on", disabled("page-next")+` && !`+disabled("page-first")))

	step("previous", p.click(ctx, "#page-prev"))
	showing("back to page 3", ids[6:9], "page 3: 3 of 10 messages shown")
	step("first", p.click(ctx, "#page-first"))
	showing("back to page 1", ids[0:3], "page 1: 3 of 10 messages shown")

	step("filter held", p.eval(ctx, `(() => { const s = document.getElementById('state'); s.value = 'held'; s.dispatchEvent(new Event('change')); })()`, nil))
	showing("held page 1", held[0:3], "page 1: 3 of 4 held messages shown (10 queued in all)")
	step("next", p.click(ctx, "#page-next"))
	showing("held page 2", held[3:], "page 2: 1 of 4 held messages shown (10 queued in all)")

	step("all states, all on one page", p.navigate(ctx, srv.URL+"/?limit=10"))
	showing("one page", ids, "all 10 messages shown")
	step("no pager", p.waitJS(ctx, "the pager hidden", `document.getElementById('pages').hidden && document.getElementById('domains-note').hidden`))

	checkPageStayedLocal(t, b, srv.URL)
}
