package dmarc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// triedMailer records every attempt, failed or not; its first fails
// attempts fail.
type triedMailer struct {
	mu    sync.Mutex
	fails int
	tried []sdk.OutgoingMessage
}

func (m *triedMailer) Send(_ context.Context, msg sdk.OutgoingMessage) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tried = append(m.tried, msg)
	if len(m.tried) <= m.fails {
		return "", errors.New("disk full")
	}
	return "Q1", nil
}

func (m *triedMailer) ids(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, msg := range m.tried {
		ids = append(ids, openReport(t, msg).feedback.Metadata.ReportID)
	}
	return ids
}

// TestReportIDPerStage: two stages (two state directories) with the same
// submitter send the same domain's report of the same day under two
// Report-IDs, where they had one, which a receiver deduplicating on it
// took for a single report; a retry after a restart of the stage sends
// its report under the ID of the failed attempt.
func TestReportIDPerStage(t *testing.T) {
	reportDNS(t)
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	dirA, dirB := t.TempDir(), t.TempDir()
	mA, mB := &triedMailer{fails: 1}, &triedMailer{}
	pA := reportingPlugin(t, dirA, mA, clock, "", false)
	pB := reportingPlugin(t, dirB, mB, clock, "", false)
	for _, p := range []*Plugin{pA, pB} {
		deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	}
	at := day0.Add(25 * time.Hour)
	clock.set(at)
	pA.reports.pass(context.Background()) // fails: retried later
	pB.reports.pass(context.Background())

	// A restart of stage A: a new process on the same directory.
	pA = reportingPlugin(t, dirA, mA, clock, "", false)
	clock.set(at.Add(reportRetry[0]))
	pA.reports.pass(context.Background())

	idsA, idsB := mA.ids(t), mB.ids(t)
	if len(idsA) != 2 || len(idsB) != 1 {
		t.Fatalf("attempts: %v by stage A, %v by stage B; want 2 and 1", idsA, idsB)
	}
	if idsA[0] != idsA[1] {
		t.Errorf("the retry's Report-ID %s, the first attempt's %s: want the same", idsA[1], idsA[0])
	}
	if idsA[0] == idsB[0] {
		t.Errorf("two stages sent example.org's report under one Report-ID %s", idsA[0])
	}
	for _, dir := range []string{dirA, dirB} {
		if names := leftFiles(dir); len(names) != 0 {
			t.Errorf("files left in %s: %v", dir, names)
		}
	}
}

// TestReportIDKeyReplaced: a key file that cannot be read (damaged, or
// a read that fails: a directory in its place) is set aside as
// report-id-key.bad, with a warning naming it, and replaced by a new key,
// kept from then on; the stage starts (a read error stopped it).
func TestReportIDKeyReplaced(t *testing.T) {
	for _, damaged := range []bool{true, false} {
		dir := t.TempDir()
		path := filepath.Join(dir, reportIDKeyFile)
		if damaged {
			if err := os.WriteFile(path, []byte("torn"), 0o600); err != nil {
				t.Fatal(err)
			}
		} else if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		k1, err := reportIDKey(dir, slog.New(slog.NewJSONHandler(&logged, nil)))
		if err != nil || len(k1) != 32 {
			t.Fatalf("damaged %v: key %q, %v", damaged, k1, err)
		}
		var rec map[string]any
		if err := json.Unmarshal(logged.Bytes(), &rec); err != nil || rec["level"] != "WARN" || rec["file"] != path || rec["set_aside"] != path+".bad" {
			t.Errorf("damaged %v: logged %s (%v), want a warning naming %s and its .bad", damaged, logged.Bytes(), err, path)
		}
		if damaged {
			if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != "torn" {
				t.Errorf("set aside %q, %v", b, err)
			}
		} else if fi, err := os.Stat(path + ".bad"); err != nil || !fi.IsDir() {
			t.Errorf("the directory not set aside: %v", err)
		}
		if k2, err := reportIDKey(dir, sdk.Logger()); err != nil || k2 != k1 {
			t.Errorf("damaged %v: key read back %q, %v; want %q", damaged, k2, err, k1)
		}
	}

	// The stage starts over a key that does not read, and reports.
	reportDNS(t)
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, reportIDKeyFile, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := newRecMailer()
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	if got := len(m.messages()); got != 1 {
		t.Errorf("%d reports sent, want 1", got)
	}
}

// leftFiles lists what a state directory holds besides its Report-ID key.
func leftFiles(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	return slices.DeleteFunc(names, func(n string) bool { return filepath.Base(n) == reportIDKeyFile })
}

// TestReportIDKeyOnDisk: two processes of one stage (a reload) both
// made a key at their start, the file keeping the last: the process
// holding the other key in memory sends under the key on disk, the one
// a retry by either process reads, so the report has one ID.
func TestReportIDKeyOnDisk(t *testing.T) {
	reportDNS(t)
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	dir := t.TempDir()
	m := newRecMailer()
	old := reportingPlugin(t, dir, m, clock, "", false)
	if err := os.Remove(filepath.Join(dir, reportIDKeyFile)); err != nil {
		t.Fatal(err)
	}
	reportingPlugin(t, dir, m, clock, "", false) // its key replaces the old one's
	onDisk, err := os.ReadFile(filepath.Join(dir, reportIDKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, old, "192.0.2.25", "a@example.org", "a@example.org")
	clock.set(day0.Add(25 * time.Hour))
	old.reports.pass(context.Background())
	sent := m.messages()
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	want := reportID(strings.TrimSpace(string(onDisk)), "rcpt.example", "example.org", day0)
	if got := openReport(t, sent[0]).feedback.Metadata.ReportID; got != want {
		t.Errorf("Report-ID %s, want %s (the key on disk)", got, want)
	}
}
