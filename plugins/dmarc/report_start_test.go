package dmarc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// startingMailer is the core's Mailer while the daemon starts its
// stages: every Send fails until running is set.
type startingMailer struct {
	*recMailer
	running atomic.Bool
	refused atomic.Int32
}

func (m *startingMailer) Send(ctx context.Context, msg sdk.OutgoingMessage) (string, error) {
	if !m.running.Load() {
		m.refused.Add(1)
		return "", errors.New("sdk: mail not queued: the daemon is starting: no plugin mail before it runs")
	}
	return m.recMailer.Send(ctx, msg)
}

// TestReportWaitsForCore: a finished day found at Configure is not sent
// while the core that started the stage takes no plugin mail (a Send
// from Configure, or while the daemon starts its other stages, fails):
// the first pass waits for the stage's first message, which says the
// core runs, and sends at once then, no try spent. Before, the pass at
// Configure failed and the reports waited 30 minutes, at each start;
// whether that pass runs before this test marks the core running is a
// race, which core/daemon's TestDMARCAggregateReports, with a real
// daemon starting, does not leave to chance.
func TestReportWaitsForCore(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	line := `{"ip":"192.0.2.25","header_from":"example.org","envelope_from":"example.org","policy":{"domain":"example.org","adkim":"r","aspf":"r","p":"reject","sp":"reject","pct":100,"fo":"0"},"rua":["mailto:d@example.org"],"disposition":"reject","dkim":"fail","spf":"fail"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "history-"+day0.Format(dayLayout)+".jsonl"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &startingMailer{recMailer: newRecMailer()}
	p := reportingPlugin(t, dir, m, &fakeClock{t: day0.Add(26 * time.Hour)}, "", true)
	// The daemon finishes starting (its other stages) and takes mail.
	m.running.Store(true)
	deliver(t, p, "192.0.2.25", "a@example.org", "a@example.org")
	select {
	case <-m.got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no report sent (%d Sends refused while the core started)", m.refused.Load())
	}
	if n := m.refused.Load(); n != 0 {
		t.Fatalf("%d Sends while the core started, want none", n)
	}
}
