package dmarc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// historyLine is a line of the history as the stage writes it.
const historyLine = `{"ip":"192.0.2.25","header_from":"example.org","envelope_from":"example.org","policy":{"domain":"example.org","adkim":"r","aspf":"r","p":"reject","sp":"reject","pct":100,"fo":"0"},"rua":["mailto:d@example.org"],"disposition":"reject","dkim":"fail","spf":"fail","spf_results":[{"domain":"example.org","scope":"mfrom","result":"none"}]}` + "\n"

// sentCount sends day0's reports and returns the messages counted in
// the one report queued.
func sentCount(t *testing.T, p *Plugin, m *recMailer, clock *fakeClock) int {
	t.Helper()
	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	sent := m.messages()
	if len(sent) != 1 {
		t.Fatalf("%d reports, want 1", len(sent))
	}
	n := 0
	for _, rec := range openReport(t, sent[0]).feedback.Records {
		n += rec.Row.Count
	}
	return n
}

func writeHistory(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReportTornLine: a history whose last line a crash cut short gets
// the next evaluation on a line of its own; the torn line alone is lost
// (before, the next line was appended to it and lost with it).
func TestReportTornLine(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	writeHistory(t, dir, historyLine+`{"ip":"192.0.2.`)
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.26", "a@example.org", "a@example.org")
	if n := sentCount(t, p, m, clock); n != 2 {
		t.Errorf("report counts %d messages, want 2 (the line before the torn one, the one after)", n)
	}
}

// TestReportLongLine: a line over historyMaxLine is skipped and the lines
// after it are read (before, the reading stopped there and the rest of
// the day went unreported).
func TestReportLongLine(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	writeHistory(t, dir, historyLine+strings.Repeat("x", historyMaxLine+10)+"\n"+historyLine)
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	if n := sentCount(t, p, m, clock); n != 2 {
		t.Errorf("report counts %d messages, want 2", n)
	}
}

// TestReportHistoryUnreadableKept: a history that cannot be read now is
// kept and tried again, not removed as if its reports were done.
func TestReportHistoryUnreadableKept(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl")
	if err := os.Mkdir(bad, 0o700); err != nil { // read fails: EISDIR
		t.Fatal(err)
	}
	clock := &fakeClock{t: day0.Add(25 * time.Hour)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, "", false)
	if next := p.reports.pass(context.Background()); !next.Equal(clock.now().Add(reportRetry[0])) {
		t.Errorf("next pass %v, want the retry at %v", next, clock.now().Add(reportRetry[0]))
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("history removed: %v", err)
	}
}

// TestReportUnsignedNoDKIMResult: the dkim stage's result for an unsigned
// message (dkim=none, no header.d) is no dkim element of auth_results,
// which has one per signature, each with its domain.
func TestReportUnsignedNoDKIMResult(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, "", false)
	unsigned := sdk.AuthResult{Method: "dkim", Result: "none", Reason: "message not signed", Stage: "dkim"}
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org", unsigned, spf("a@example.org"))
	if rows := readHistory(t, dir, day0); len(rows) != 1 || len(rows[0].DKIMResults) != 0 {
		t.Errorf("rows %+v, want one without dkim results", rows)
	}
}

// heldMailer holds each Send until released, saying when it is entered.
type heldMailer struct {
	entered, release chan struct{}
	rec              *recMailer
}

func (h *heldMailer) Send(ctx context.Context, msg sdk.OutgoingMessage) (string, error) {
	h.entered <- struct{}{}
	<-h.release
	return h.rec.Send(ctx, msg)
}

// TestReportOneSenderPerDirectory: two processes of the stage on one
// state directory (a reload's new process while the old one finishes)
// do not both send a day: while one is sending, the other's pass sends
// nothing and comes back a minute later (before, it sent the same
// report again).
func TestReportOneSenderPerDirectory(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	held := &heldMailer{entered: make(chan struct{}), release: make(chan struct{}), rec: newRecMailer()}
	old := reportingPlugin(t, dir, held, clock, "", false)
	deliver(t, old, "192.0.2.25", "a@example.org", "a@example.org")
	other := newRecMailer()
	renewed := reportingPlugin(t, dir, other, clock, "", false)

	clock.set(day0.Add(25 * time.Hour))
	done := make(chan struct{})
	go func() { defer close(done); old.reports.pass(context.Background()) }()
	select {
	case <-held.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first process did not send")
	}
	if next := renewed.reports.pass(context.Background()); !next.Equal(clock.now().Add(time.Minute)) {
		t.Errorf("next pass of the second process %v, want a minute later", next)
	}
	close(held.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the first process's pass did not end")
	}
	renewed.reports.pass(context.Background())
	if n, m := len(held.rec.messages()), len(other.messages()); n != 1 || m != 0 {
		t.Errorf("reports sent: %d by the first process, %d by the second; want 1 and 0", n, m)
	}
}
