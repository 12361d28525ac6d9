package filter

import (
	"log/slog"
	"testing"

	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// The state directory's hand-over is logged as records with their level
// and the directory as a field, as a warn rule's match is, not as plain
// lines the core shows as "plugin stderr".
func TestGreylistHandOverIsLoggedStructured(t *testing.T) {
	clk, dir := newClock(), t.TempDir()
	greyPlugin(t, clk, dir, "") // a: holds the directory
	lines := &logLines{}
	b := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines, nil))}
	h := sdktest.New(t, b, greyConfig(dir, ""))
	recs := lines.Take(t)
	if len(recs) != 1 || recs[0]["level"] != "INFO" || recs[0]["state_dir"] != dir {
		t.Fatalf("at open: records %v, want one at info with state_dir %s", recs, dir)
	}
	wantGreylisted(t, "b: first attempt", h.Rcpt(txnFrom("192.0.2.10", "alice@example.net"), "dave@example.org"))
	if err := b.grey.close(); err != nil {
		t.Fatal(err)
	}
	recs = lines.Take(t)
	if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["state_dir"] != dir || recs[0]["changes"] != float64(1) {
		t.Fatalf("at close: records %v, want one at warn with state_dir %s and changes 1", recs, dir)
	}
}
