package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// lineSignal is a log that closes seen at the first line holding want.
type lineSignal struct {
	syncBuf
	want string
	once sync.Once
	seen chan struct{}
}

func (w *lineSignal) Write(p []byte) (int, error) {
	n, err := w.syncBuf.Write(p)
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// A reload applies [limits] queue_minfree to every reader at once, both
// ways, as Postfix's reload does: raised past the disk's free space, the
// listener answers MAIL 452 4.3.1, plugin mail is refused and delivery
// holds back; lowered again, a MAIL gets 250, plugin mail is queued and
// the held message is delivered at once (the reload wakes the agent,
// sooner than its 10s recheck), with no restart warning.
func TestReloadAppliesQueueMinFree(t *testing.T) {
	const (
		admits  = "queue_minfree = 1024\n"
		refuses = "queue_minfree = 4611686018427387904\n" // 4 EiB: no disk has it
	)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	src := func(minfree string) string { return reloadBase(dataDir, minfree+mxListener+relayTo(sink)) }
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(src(admits)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lineSignal{want: "delivery: holding back", seen: make(chan struct{})}
	d, err := Start(Options{Config: c, Logger: NewLogger(config.Log{Format: "text"}, logs), DrainTimeout: 5 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	reload := func(minfree string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src(minfree)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.ReloadFile(); err != nil {
			t.Fatal(err)
		}
	}
	mail := func() (string, error) {
		return d.mail.Load().Send(context.Background(), "notify", 0, sdk.OutgoingMessage{
			From: "notices@sluice.test", To: []string{"admin@remote.test"},
			Message: []byte("From: <notices@sluice.test>\nSubject: notice\n\nbody\n")})
	}

	reload(refuses)
	if _, err := send(t, d, "refused"); err == nil || !strings.HasPrefix(err.Error(), "452 4.3.1 ") {
		t.Fatalf("MAIL after raising queue_minfree: %v, want 452 4.3.1", err)
	}
	if id, err := mail(); err == nil || !strings.Contains(err.Error(), "insufficient system storage") {
		t.Fatalf("plugin mail after raising queue_minfree: %q, %v, want refused", id, err)
	}
	// A message queued meanwhile (as before the reload) waits.
	now := time.Now()
	held := &envelope.Message{ID: d.queue.NewID(), From: "alice@sluice.test", Received: now,
		State: envelope.StateActive, NextAttempt: now,
		Rcpts: []envelope.Recipient{{Addr: "bob@remote.test", Status: envelope.RcptPending}}}
	if err := d.queue.Enqueue(held, testlib.Message("alice@sluice.test", "bob@remote.test", "held", "body")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-logs.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("delivery did not hold back; log:\n%s", logs.String())
	}
	if n := len(sink.Deliveries()); n != 0 {
		t.Fatalf("%d deliveries while queue_minfree refused", n)
	}

	reload(admits)
	if got := sink.WaitN(t, 1, 5*time.Second); !strings.Contains(string(got[0].Data), "Subject: held") {
		t.Fatalf("first delivery after lowering queue_minfree: %q, want the held message", got[0].Data)
	}
	if _, err := send(t, d, "admitted"); err != nil {
		t.Fatalf("MAIL after lowering queue_minfree: %v", err)
	}
	if id, err := mail(); err != nil || id == "" {
		t.Fatalf("plugin mail after lowering queue_minfree: %q, %v", id, err)
	}
	sink.WaitN(t, 3, 10*time.Second)
	if l := logs.String(); strings.Contains(l, "next restart") {
		t.Errorf("a restart warning for queue_minfree; log:\n%s", l)
	}
}
