package dmarc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// TestReportTempfailNotRecorded: a From field of two domains, one of
// whose records cannot be fetched, is answered 451; the other domain's
// evaluation is not recorded, as the retry will be (before, each attempt
// was counted).
func TestReportTempfailNotRecorded(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, "", false)
	if v := deliver(t, p, "192.0.2.25", "a@noauth.test", "a@noauth.test, b@broken.test"); v.Action != sdk.ActionTempfail {
		t.Fatalf("verdict %v, want tempfail", v.Action)
	}
	if _, err := os.Stat(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl")); !os.IsNotExist(err) {
		t.Errorf("history written for a message answered 451: %v %v", err, readHistory(t, dir, day0))
	}
	deliver(t, p, "192.0.2.25", "a@noauth.test", "a@noauth.test")
	if rows := readHistory(t, dir, day0); len(rows) != 1 {
		t.Errorf("%d rows, want 1", len(rows))
	}
}
