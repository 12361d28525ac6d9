package main

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/queue"
)

// A daemon refusing the token (401) is a user error on one line that
// says where the token comes from, as that is what to fix.
func TestWrongTokenSaysWhereFrom(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: q, Token: "s3cret", Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	t.Setenv("SLUICE_ADMIN_TOKEN", "wrong")
	wantUserError(t, []string{"queue", "list", "--admin", srv.URL}, "missing or wrong bearer token", "$SLUICE_ADMIN_TOKEN", "[admin] token of -c FILE")
	t.Setenv("SLUICE_ADMIN_TOKEN", "s3cret")
	if code, out, stderr := runErr("queue", "list", "--admin", srv.URL); code != exitOK || out != "queue is empty\n" {
		t.Fatalf("right token: exit %d %q %q", code, out, stderr)
	}
}
