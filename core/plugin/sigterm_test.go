package plugin

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// A SIGTERM sent to the daemon's whole process group (systemd's default
// KillMode, kill -TERM -PGID) leaves a plugin serving: the core stops it
// once it has drained its sessions through it. Before, the plugin died at
// once and the sessions still draining got the stage's on_error.
func TestPluginOutlivesSIGTERM(t *testing.T) {
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=chatty"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	kids := children(t)
	if len(kids) != 1 {
		t.Fatalf("want one plugin process, have %q", kids)
	}
	pid, _ := strconv.Atoi(strings.Split(kids[0], ":")[0])
	// The ignore is set before Serve answers the handshake: read it from
	// the kernel rather than racing the signal's delivery against a call.
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc")
	}
	var ign uint64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			ign, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if ign&(1<<(syscall.SIGTERM-1)) == 0 {
		t.Fatalf("the plugin does not ignore SIGTERM (SigIgn %x)", ign)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org", Rcpts: []sdk.Recipient{{Addr: "b@example.org"}}}}
	if _, err := (conn{p}).Data(context.Background(), sdk.HookData, txn, &sdk.Message{}); err != nil {
		t.Fatalf("a call after SIGTERM: %v", err)
	}
}
