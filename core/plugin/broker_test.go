package plugin

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// mailer sends a message through the core at every mail hook, so that
// the core serves it the Host service over go-plugin's broker.
type mailer struct {
	sdk.Base
	cfg sdk.Config
}

func (m *mailer) Configure(_ context.Context, cfg sdk.Config) error {
	m.cfg = cfg
	return nil
}

func (m *mailer) Mail(ctx context.Context, _ *sdk.Txn) (sdk.Verdict, error) {
	id, err := m.cfg.Mailer.Send(ctx, sdk.OutgoingMessage{To: []string{"b@example.org"}, Message: []byte("From: a@example.org\r\n\r\nhi\r\n")})
	if err != nil {
		return sdk.Verdict{}, err
	}
	return sdk.Continue().Because("queued " + id), nil
}

// The core's broker listener, the Host service a plugin sends mail
// through, is a socket in the plugin process's own directory, as the
// plugin's is: go-plugin made it in the temporary directory, where a
// plugin that died while the core announced it left the file for good.
// Nothing is left in the temporary directory after the plugin is killed
// and restarted, and after the stage stops.
func TestPluginBrokerSocketInProcessDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ch := make(chan string, 1000)
	sent := make(chan struct{}, 1)
	handle := func(context.Context, string, sdk.OutgoingMessage) (string, error) {
		sent <- struct{}{}
		return "Q1", nil
	}
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=mailer"}, Logger: slog.New(&records{ch: ch}), Mail: handle,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, checkEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 5 {
		waitRunning(t, ch) // the first start's, then each restart's
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		v, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil)
		if err != nil || v.Reason != "queued Q1" {
			t.Fatalf("start %d: mail hook: %+v, %v; want the plugin's Send queued", i, v, err)
		}
		<-sent
		p.mu.RLock()
		dir, pid := p.sockDir, p.client.ID()
		p.mu.RUnlock()
		if got := entries(t, tmp); len(got) != 1 || filepath.Join(tmp, got[0]) != dir {
			t.Fatalf("start %d: the temporary directory holds %v; want only the process's socket directory %s", i, got, dir)
		}
		// The plugin's socket and the core's Host listener.
		if got := entries(t, dir); len(got) != 2 {
			t.Fatalf("start %d: the socket directory holds %v; want two sockets", i, got)
		}
		n, err := strconv.Atoi(pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitRunning(t, ch)
	_ = p.Close()
	if got := entries(t, tmp); len(got) != 0 {
		t.Fatalf("the temporary directory holds %v after the stage stopped; want nothing", got)
	}
}

// waitRunning waits for the log's next "plugin running".
func waitRunning(t *testing.T, ch chan string) {
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

// entries names dir's entries.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
