package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// sigtermed is a plugin that meets SIGTERM: at data it sends one to its
// own process, which the kernel delivers before kill returns, so a
// process that dies of it never answers the call; at mail it starts
// sleep(1), as a plugin runs a helper, and stops it with SIGTERM.
type sigtermed struct{ sdk.Base }

func (sigtermed) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		return sdk.Verdict{}, err
	}
	return sdk.Continue(), nil
}

func (sigtermed) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		return sdk.Verdict{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return sdk.Verdict{}, err
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return sdk.Continue(), nil
			}
		}
		return sdk.Verdict{}, fmt.Errorf("the helper ended with %v, not by SIGTERM", err)
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return sdk.Verdict{}, errors.New("the helper outlived SIGTERM for 10 s: it inherited the plugin's ignoring it")
	}
}

// startSigtermed starts the sigtermed plugin.
func startSigtermed(t *testing.T) *Process {
	t.Helper()
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=sigterm"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// A SIGTERM sent to the daemon's whole cgroup (systemd's default
// KillMode) leaves a plugin serving: the core stops it
// once it has drained its sessions through it. Before, the plugin died at
// once and the sessions still draining got the stage's on_error.
func TestPluginOutlivesSIGTERM(t *testing.T) {
	p := startSigtermed(t)
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org", Rcpts: []sdk.Recipient{{Addr: "b@example.org"}}}}
	for i := range 2 {
		if _, err := (conn{p}).Data(context.Background(), sdk.HookData, txn, &sdk.Message{}); err != nil {
			t.Fatalf("call %d, which sent the plugin SIGTERM: %v", i+1, err)
		}
	}
}

// A process a plugin starts can still be stopped with SIGTERM. The SDK
// once had the plugin ignore SIGTERM, and an ignored signal stays ignored
// across exec: the helper ignored it too, and a kill -TERM of the
// daemon's process group left it running after its plugin was gone.
func TestPluginHelperStopsOnSIGTERM(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep(1) (Debian package coreutils)")
	}
	p := startSigtermed(t)
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err != nil {
		t.Fatal(err)
	}
}
