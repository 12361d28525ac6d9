package plugin

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// children lists this process's child processes and their states.
func children(t *testing.T) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == self {
			out = append(out, e.Name()+":"+f[0])
		}
	}
	return out
}

// TestPluginRestartsLeakNothing: 200 crashes and restarts of a plugin
// leave the daemon's descriptors, goroutines and child processes where
// they were after the first start.
func TestPluginRestartsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("200 plugin starts")
	}
	ch := make(chan string, 1000)
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=crash-on-mail"}, Logger: slog.New(&records{ch: ch}),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitRunning := func() {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case s := <-ch:
				if strings.HasPrefix(s, "INFO plugin running") {
					return
				}
			case <-timeout:
				t.Fatal("plugin not running again")
			}
		}
	}
	waitRunning()
	crash := func() {
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err == nil {
			t.Fatal("the crashing plugin answered")
		}
		waitRunning()
	}
	for range 10 { // let the pools and buffers settle
		crash()
	}
	fds, gs := openFDs(t), runtime.NumGoroutine()
	for range 200 {
		crash()
	}
	_, restarts := p.Health()
	// Goroutines that end as their process's do may still be ending.
	var fds2, gs2 int
	for deadline := time.Now().Add(10 * time.Second); ; {
		fds2, gs2 = openFDs(t), runtime.NumGoroutine()
		if fds2 <= fds && gs2 <= gs+5 || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	kids := children(t)
	t.Logf("restarts %d: fds %d -> %d, goroutines %d -> %d, children %v", restarts, fds, fds2, gs, gs2, kids)
	if fds2 > fds || gs2 > gs+5 || len(kids) != 1 {
		t.Errorf("after 200 restarts: fds %d -> %d, goroutines %d -> %d, children %v (want one, running)", fds, fds2, gs, gs2, kids)
	}
}
