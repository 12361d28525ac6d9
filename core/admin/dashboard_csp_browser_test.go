package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDashboardResistsInjectionAndFramingInChromium checks, in headless
// chromium, the browser-side defences of the dashboard:
//
//   - its Content-Security-Policy lets the page's own script run (the
//     queue loads) but refuses an inline handler injected into the page,
//     as a rendering bug quoting an attacker's text would inject it;
//   - a page on another origin cannot frame it (frame-ancestors and
//     X-Frame-Options), so it cannot trick a click on hold or delete.
func TestDashboardResistsInjectionAndFramingInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium(t)
	srv, _, id := setup(t, "")
	// The attacker's page: another port of 127.0.0.1 is another origin.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>evil</title>`+
			`<iframe id="f" src="`+srv.URL+`/" onload="window.frameLoaded = true"></iframe>`)
	}))
	t.Cleanup(evil.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startBrowser(t, bin)
	p, err := b.newPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	must("load dashboard", p.navigate(ctx, srv.URL+"/"))
	must("queue shown", p.waitJS(ctx, "the queued message's row", `document.getElementById('msg-`+id+`')`))
	// The controls once wired by onclick= attributes work from the script.
	must("open trace", p.click(ctx, `#msg-`+id+` a`))
	must("trace shown", p.waitJS(ctx, "the trace panel", `document.getElementById('trace').classList.contains('show')`))
	must("close trace", p.click(ctx, `#trace-close`))
	must("trace closed", p.waitJS(ctx, "the trace panel to close", `!document.getElementById('trace').classList.contains('show')`))
	must("filter", p.typeText(ctx, "#search", "nobody@nowhere"))
	must("row filtered out", p.waitJS(ctx, "the row to be filtered out", `!document.getElementById('msg-`+id+`')`))

	must("inject handler", p.eval(ctx, `(() => {
		window.violations = [];
		document.addEventListener('securitypolicyviolation', e => window.violations.push(e.effectiveDirective));
		document.body.insertAdjacentHTML('beforeend', '<b id="injected" onclick="window.pwned = 1">x</b>');
		document.getElementById('injected').click();
	})()`, nil))
	must("CSP refuses the handler", p.waitJS(ctx, "a script-src violation report",
		`window.violations.some(d => d.startsWith('script-src'))`))
	var pwned bool
	must("read pwned", p.eval(ctx, `window.pwned === 1`, &pwned))
	if pwned {
		t.Fatal("an injected inline handler ran in the dashboard")
	}

	must("load attacker page", p.navigate(ctx, evil.URL+"/"))
	must("frame settled", p.waitJS(ctx, "the iframe's load event", `window.frameLoaded`))
	// The frame's load event fires after its document exists, so had
	// the dashboard been framed, chromium would have made a JavaScript
	// context with the dashboard's origin by now.
	if framedSince(b, evil.URL, srv.URL) {
		t.Fatalf("a page on %s framed the dashboard", evil.URL)
	}
}

// framedSince reports whether a JavaScript context of origin dashURL was
// created after one of evilURL: those before it are the dashboard's own
// top-level page, from the first half of the test.
func framedSince(b *browser, evilURL, dashURL string) bool {
	seenEvil := false
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events {
		if e.Method != "Runtime.executionContextCreated" {
			continue
		}
		var c struct {
			Context struct {
				Origin string `json:"origin"`
			} `json:"context"`
		}
		_ = json.Unmarshal(e.Params, &c)
		switch {
		case c.Context.Origin == evilURL:
			seenEvil = true
		case seenEvil && c.Context.Origin == dashURL:
			return true
		}
	}
	return false
}
