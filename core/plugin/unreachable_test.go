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

// cutOffOnce's first process closes every socket and pipe it has at its
// first mail hook — the gRPC listener and connection, the direct channel
// (its control socket, the call's pipes) — and lives on; a process
// started after it (markerEnv exists) answers.
type cutOffOnce struct{ sdk.Base }

func (cutOffOnce) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) {
	marker := os.Getenv(markerEnv)
	if _, err := os.Stat(marker); err == nil {
		return sdk.Continue(), nil
	}
	_ = os.WriteFile(marker, nil, 0o600)
	// The ways in go first, the call's own pipes last: the core must not
	// see this call fail while it can still reach the process. Closing
	// in descriptor order, the gRPC connection and the call's pipes went
	// before the listener and the control socket; the test's next call
	// then got a new gRPC connection (grpc-go redials a broken one), or
	// a pipe pair over the control socket, and this process answered it.
	closeFDs(isListener) // no connection can be made from now on
	for closeFDs(isSocket) > 0 {
		// The gRPC connection (grpc-go redials, refused now) and the
		// control socket over which the core passes new connections.
	}
	for closeFDs(isPipe) > 0 {
		// The call's pipes (it fails only now) and go-plugin's stdio.
	}
	return sdk.Continue(), nil
}

// isListener: a listening socket (SO_ACCEPTCONN).
func isListener(fd int, link string) bool {
	on, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	return isSocket(fd, link) && err == nil && on == 1
}

func isSocket(_ int, link string) bool { return strings.HasPrefix(link, "socket:") }
func isPipe(_ int, link string) bool   { return strings.HasPrefix(link, "pipe:") }

// closeFDs closes the process's descriptors above stderr that match, and
// says how many.
func closeFDs(match func(fd int, link string) bool) int {
	n := 0
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		link, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 && match(fd, link) {
			if syscall.Close(fd) == nil {
				n++
			}
		}
	}
	return n
}

// startCutOff starts a cut-off-once plugin whose log records go to ch, with
// no periodic look at the process: only a failed call leads to a restart.
func startCutOff(t *testing.T, ch chan string) *Process {
	t.Helper()
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env:    []string{servePluginEnv + "=cut-off-once", markerEnv + "=" + filepath.Join(t.TempDir(), "cut")},
		Logger: slog.New(&records{ch: ch}), MinBackoff: time.Millisecond, checkEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// A plugin process that can no longer be reached — it closed its sockets
// and lives on — is restarted once a call fails, as a dead one is. Before,
// the supervisor only looked whether the process had exited: the stage
// stayed "running" and every call failed, every message got the stage's
// on_error, for as long as the process lived.
func TestPluginUnreachableIsRestarted(t *testing.T) {
	ch := make(chan string, 100)
	p := startCutOff(t, ch)
	mail := func() error {
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := (conn{p}).Hook(ctx, sdk.HookMail, txn, nil)
		return err
	}
	if err := mail(); err == nil {
		t.Fatal("the call that cut the plugin off was answered")
	}
	timeout := time.After(30 * time.Second)
	for _, want := range []string{"INFO plugin running", "WARN plugin unreachable", "INFO plugin running"} {
		for found := false; !found; {
			select {
			case s := <-ch:
				found = strings.HasPrefix(s, want)
			case <-timeout:
				t.Fatalf("no %q log line: the unreachable plugin was not restarted", want)
			}
		}
	}
	if err := mail(); err != nil {
		t.Fatalf("a call to the restarted plugin: %v", err)
	}
	if _, restarts := p.Health(); restarts != 1 {
		t.Errorf("restarts %d, want 1", restarts)
	}
}

// Under steady traffic too: every message failing a call at once must not
// push the health check back for as long as mail keeps coming (each failed
// call restarted the countdown, and the plugin was never restarted).
func TestPluginUnreachableIsRestartedUnderTraffic(t *testing.T) {
	p := startCutOff(t, make(chan string, 1000))
	deadline := time.Now().Add(20 * time.Second)
	failed := 0
	for {
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		// Long enough for the cut-off call to fail by its pipes closing,
		// not by its deadline while the process could still be reached.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := (conn{p}).Hook(ctx, sdk.HookMail, txn, nil)
		cancel()
		if err == nil && failed > 0 {
			break // answered again: restarted
		}
		if err != nil {
			failed++
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted in 20 s while %d calls failed", failed)
		}
	}
	if _, restarts := p.Health(); restarts != 1 {
		t.Errorf("restarts %d, want 1", restarts)
	}
}
