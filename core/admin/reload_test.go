package admin

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// POST /api/reload calls Options.Reload: 200 when it applied, 400 with its
// error text when the config was refused, 501 without it; GET is refused.
func TestReloadRoute(t *testing.T) {
	var fail error
	calls := 0
	srv := httptest.NewServer(Handler(Options{Queue: nil, Reload: func() error { calls++; return fail }}))
	t.Cleanup(srv.Close)
	if code, body := do(t, "POST", srv.URL+"/api/reload", ""); code != 200 || !strings.Contains(body, `"action": "reload"`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	fail = errors.New("/etc/sluice.toml:7: unknown key listener.colour")
	code, body := do(t, "POST", srv.URL+"/api/reload", "")
	if code != 400 || !strings.Contains(body, `"error": "/etc/sluice.toml:7: unknown key listener.colour"`) {
		t.Fatalf("refused reload: %d %s", code, body)
	}
	if code, _ := do(t, "GET", srv.URL+"/api/reload", ""); code != 405 {
		t.Fatalf("GET reload: %d", code)
	}
	if calls != 2 {
		t.Fatalf("Reload called %d times, want 2", calls)
	}
	none := httptest.NewServer(Handler(Options{}))
	t.Cleanup(none.Close)
	if code, _ := do(t, "POST", none.URL+"/api/reload", ""); code != 501 {
		t.Fatalf("reload without Options.Reload: %d", code)
	}
}
