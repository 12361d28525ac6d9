package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// A mailed TLS report that a failing bounce-hook stage left as generated
// is queued, and the log says why, as a bounce's does (report.go).
func TestTLSRPTMailUnchangedWarns(t *testing.T) {
	h := newHarness(t)
	r := tlsReportsFor(h, "")
	var logs bytes.Buffer
	r.opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r.opt.Filter = func(_ context.Context, _ *envelope.Message, _ []byte) (pipeline.BounceResult, error) {
		return pipeline.BounceResult{Unchanged: "stage route failed (on_error tempfail): boom"}, nil
	}
	id, err := r.mail(context.Background(), &tlsReport{}, r.opt.Identity, []string{"tls-reports@dest.test"}, []byte("gz"))
	if err != nil || id == "" {
		t.Fatalf("mail = %q, %v; want the report queued", id, err)
	}
	if _, err := h.q.Get(id); err != nil {
		t.Fatalf("report not queued: %v", err)
	}
	if !strings.Contains(logs.String(), "report queued as generated") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("log %q: want the queued-as-generated warning with its reason", logs.String())
	}
}
