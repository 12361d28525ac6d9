package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/smtpd"
)

// endPolicy is a generation's Policy whose sessions end with the
// disconnect hooks ends holds for them.
type endPolicy struct {
	smtpd.AllowAll
	ends map[*smtpd.SessionInfo]func(context.Context)
}

func (p *endPolicy) end(info *smtpd.SessionInfo) func(context.Context) { return p.ends[info] }

// Past maxBackgroundEnds sessions whose disconnect hooks are unanswered,
// a closing session's run before its Close returns (its connection, and
// so its max_connections slot, waits for them), rather than as one more
// call in the background; once those answer, the background takes the
// next session's again.
func TestDisconnectBackgroundBounded(t *testing.T) {
	ctx := context.Background()
	pol := &endPolicy{ends: map[*smtpd.SessionInfo]func(context.Context){}}
	lp := newLivePolicy(&generation{policy: pol}, discardLog())
	lp.endSlots = make(chan struct{}, 2)
	infos := make([]*smtpd.SessionInfo, 4)
	for i := range infos {
		infos[i] = &smtpd.SessionInfo{ID: fmt.Sprint(i)}
	}
	held := make(chan struct{})
	var ran atomic.Bool
	pol.ends[infos[0]] = func(context.Context) { <-held }
	pol.ends[infos[1]] = func(context.Context) { <-held }
	pol.ends[infos[2]] = func(context.Context) { ran.Store(true) }
	for _, info := range infos[:3] {
		lp.Connect(ctx, info)
		lp.Close(info)
	}
	if !ran.Load() {
		t.Fatal("with 2 sessions' disconnect hooks unanswered, a third's had not run when its Close returned")
	}
	close(held)
	lp.ends.Wait()

	held = make(chan struct{})
	pol.ends[infos[3]] = func(context.Context) { <-held }
	closed := make(chan struct{})
	go func() {
		lp.Connect(ctx, infos[3])
		lp.Close(infos[3])
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the disconnect hooks though none other is unanswered")
	}
	close(held)
	lp.ends.Wait()
}

// A disconnect hook still unanswered when the drain timeout ends (a
// plugin stuck, with a long timeout) is cancelled: the stop takes the
// drain timeout, not the stage's timeout.
func TestDisconnectHookCutAtDrainTimeout(t *testing.T) {
	r := newReporter(t)
	c := mustParse(t, fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s`, filepath.Join(t.TempDir(), "data"), r.stage(t, "ender", "hold_disconnect_ms = 60000")))
	d, err := Start(Options{Config: c, Logger: discardLog(), DrainTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	tc, _ := dialText(t, d.SMTPAddrs()["mx"].String(), 220)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "QUIT", 221)
	r.until(t, "disconnect")
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop still waits for a disconnect hook 10 s after a drain timeout of 300 ms")
	}
	if st := d.pipe().Status()[0]; st.Calls != 3 || st.Errors != 1 {
		t.Fatalf("stage %+v: want connect, helo and a failed disconnect", st)
	}
}

// sluice replay ends its session as the daemon does: a stage that keeps
// something per session hears of its end, once, after its other hooks.
func TestReplayDisconnects(t *testing.T) {
	r := newReporter(t)
	c := mustParse(t, fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s`, t.TempDir(), r.stage(t, "ender", "")))
	if _, err := Replay(context.Background(), c, []byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: x\r\n\r\nx\r\n"), ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	got := r.until(t, "disconnect")
	var hooks []string
	for _, l := range got {
		hooks = append(hooks, strings.Fields(l)[0])
	}
	if strings.Join(hooks, " ") != "connect helo mail rcpt data disconnect" {
		t.Fatalf("replay asked %q", got)
	}
	if rest := r.rest(t); len(rest) != 0 {
		t.Fatalf("more after the disconnect: %q", rest)
	}
}
