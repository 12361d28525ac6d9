package dmarc

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportHistoryBound: past max_history_bytes a day's evaluations are
// not recorded, with one warning per day; the day's report counts the
// evaluations recorded; once the sender has removed a finished day, the
// room is measured again and recording goes on.
func TestReportHistoryBound(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	const limit = 1000
	p := reportingPlugin(t, dir, m, clock, `{"reports": {"org_name": "o", "email": "dmarc@rcpt.example", "max_history_bytes": 1000}}`, false)
	var logs bytes.Buffer
	p.reports.log = slog.New(slog.NewJSONHandler(&logs, nil))
	for i := 0; i < 10; i++ {
		deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	}
	fi, err := os.Stat(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := len(readHistory(t, dir, day0))
	if fi.Size() > limit || lines == 0 || lines >= 10 {
		t.Fatalf("history of %d bytes, %d lines, for 10 evaluations under a bound of %d", fi.Size(), lines, limit)
	}
	// The next day, the history still full: dropped, warned of again.
	clock.set(day0.Add(24*time.Hour + 30*time.Minute))
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	if _, err := os.Stat(filepath.Join(dir, "history-"+day0.AddDate(0, 0, 1).Format(dayLayout)+".jsonl")); err == nil {
		t.Error("recorded past the bound on the next day")
	}
	if n := strings.Count(logs.String(), "at max_history_bytes"); n != 2 {
		t.Errorf("%d warnings, want one a day (2):\n%s", n, logs.String())
	}

	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	sent := m.messages()
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	count := 0
	for _, r := range openReport(t, sent[0]).feedback.Records {
		count += r.Row.Count
	}
	if count != lines {
		t.Errorf("report counts %d evaluations, the history held %d", count, lines)
	}
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	if got := len(readHistory(t, dir, day0.AddDate(0, 0, 1))); got != 1 {
		t.Errorf("after the full day was sent: %d lines recorded, want 1", got)
	}
}

// TestReportHistoryBoundTwoProcesses: the old and the new process of a
// reload append to one history; each counts the other's lines too, so
// together they stay under max_history_bytes (each counting only its
// own, they wrote up to twice it).
func TestReportHistoryBoundTwoProcesses(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	const cfg = `{"reports": {"org_name": "o", "email": "dmarc@rcpt.example", "max_history_bytes": 1000}}`
	a := reportingPlugin(t, dir, newRecMailer(), clock, cfg, false)
	b := reportingPlugin(t, dir, newRecMailer(), clock, cfg, false)
	for i := 0; i < 10; i++ {
		deliver(t, a, "192.0.2.25", "a@example.org", "a@example.org")
		deliver(t, b, "192.0.2.25", "a@example.org", "a@example.org")
	}
	fi, err := os.Stat(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1000 {
		t.Errorf("history of %d bytes, two processes under a bound of 1000", fi.Size())
	}
}
