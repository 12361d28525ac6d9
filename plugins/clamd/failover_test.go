package clamd

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/failover"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// fakeClock is the socket list's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withSockets returns the plugin configured with sockets, on clock.
func withSockets(t *testing.T, clock *fakeClock, sockets ...string) *Plugin {
	t.Helper()
	t.Setenv(EnvHostname, "mx.example.org")
	js, err := json.Marshal(map[string]any{"sockets": sockets})
	if err != nil {
		t.Fatal(err)
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "clamav", JSON: js}); err != nil {
		t.Fatal(err)
	}
	p.socks.Now = clock.Now
	return p
}

// answering is a fake clamd that reads the stream and answers line.
func answering(t *testing.T, path, line string) *fakeClamd {
	t.Helper()
	return startFakeAt(t, path, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		if _, err := f.readChunks(r, -1); err == nil {
			answer(c, line)
		}
	})
}

func scanned(f *fakeClamd) int {
	cmds, _ := f.streams()
	return len(cmds)
}

// TestSocketsFailover: with sockets, a clamd that cannot be connected to
// moves the scan to the next one, whose answer is the stage's.
func TestSocketsFailover(t *testing.T) {
	dir := t.TempDir()
	second := answering(t, filepath.Join(dir, "second.sock"), "stream: Eicar-Test-Signature FOUND")
	p := withSockets(t, &fakeClock{t: time.Unix(1e9, 0)}, "unix:"+filepath.Join(dir, "dead.sock"), second.socket)
	m, _ := testMessage(t, 1000)
	v, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
	if err != nil || v.Action != sdk.ActionReject || !strings.Contains(v.Reason, "Eicar-Test-Signature") {
		t.Fatalf("Data = %+v, %v; want the second clamd's virus refused", v, err)
	}
	if n := scanned(second); n != 1 {
		t.Fatalf("second clamd got %d scans, want 1", n)
	}
}

// TestSocketsAnswerEndsIt: an answer of the first clamd, clean, a virus
// or an error, is the scan's: the next is not asked. Only a failed
// connection moves on.
func TestSocketsAnswerEndsIt(t *testing.T) {
	for _, tc := range []struct {
		answer string
		fails  bool
	}{
		{"stream: OK", false},
		{"stream: Eicar-Test-Signature FOUND", false},
		{"stream: Can't allocate memory ERROR", true},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			dir := t.TempDir()
			first := answering(t, filepath.Join(dir, "first.sock"), tc.answer)
			second := answering(t, filepath.Join(dir, "second.sock"), "stream: OK")
			p := withSockets(t, &fakeClock{t: time.Unix(1e9, 0)}, first.socket, second.socket)
			m, _ := testMessage(t, 1000)
			_, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
			if (err != nil) != tc.fails {
				t.Fatalf("Data error %v, want one: %v", err, tc.fails)
			}
			if a, b := scanned(first), scanned(second); a != 1 || b != 0 {
				t.Fatalf("scans: first %d, second %d; want 1, 0", a, b)
			}
		})
	}
}

// TestSocketsAllDead: when no socket can be connected to the stage
// fails (on_error decides), naming each socket.
func TestSocketsAllDead(t *testing.T) {
	dir := t.TempDir()
	a, b := "unix:"+filepath.Join(dir, "a.sock"), "unix:"+filepath.Join(dir, "b.sock")
	p := withSockets(t, &fakeClock{t: time.Unix(1e9, 0)}, a, b)
	m, _ := testMessage(t, 1000)
	v, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
	if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("Data = %+v, %v; want an error naming %s and %s", v, err, a, b)
	}
}

// TestSocketsDeadPaused: a socket that could not be connected to is
// left out while another answers, until failover.Pause has passed: a clamd
// that came back meanwhile is not asked before then, and is after.
func TestSocketsDeadPaused(t *testing.T) {
	dir := t.TempDir()
	firstPath := filepath.Join(dir, "first.sock")
	second := answering(t, filepath.Join(dir, "second.sock"), "stream: OK")
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	p := withSockets(t, clock, "unix:"+firstPath, second.socket)
	m, _ := testMessage(t, 1000)
	scan := func() {
		t.Helper()
		if v, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m); err != nil || v.Reason != "clean" {
			t.Fatalf("Data = %+v, %v; want clean", v, err)
		}
	}
	scan() // first down: the second scans, the first is paused
	first := answering(t, firstPath, "stream: OK")
	clock.Add(failover.Pause - time.Second)
	scan()
	if a, b := scanned(first), scanned(second); a != 0 || b != 2 {
		t.Fatalf("within the pause: scans first %d, second %d; want 0, 2", a, b)
	}
	clock.Add(time.Second)
	scan()
	if a, b := scanned(first), scanned(second); a != 1 || b != 2 {
		t.Fatalf("after the pause: scans first %d, second %d; want 1, 2", a, b)
	}
}

// TestSocketsAllPausedTried: when every socket is in its pause they are
// all tried still, so that a lone clamd restarted is used at once.
func TestSocketsAllPausedTried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clamd.sock")
	p := withSockets(t, &fakeClock{t: time.Unix(1e9, 0)}, "unix:"+path)
	m, _ := testMessage(t, 1000)
	txn := sdktest.NewTxn("alice@example.org", "bob@example.net")
	if _, err := p.Data(context.Background(), txn, m); err == nil {
		t.Fatal("Data succeeded with no clamd")
	}
	f := answering(t, path, "stream: OK")
	if v, err := p.Data(context.Background(), txn, m); err != nil || v.Reason != "clean" || scanned(f) != 1 {
		t.Fatalf("Data = %+v, %v; want the restarted clamd's clean", v, err)
	}
}
