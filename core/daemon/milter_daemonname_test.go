package daemon

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"
	"github.com/emersion/go-smtp"
)

// daemonNameMilter sends the {daemon_name} macro each session connects
// with.
type daemonNameMilter struct {
	gm.NoOpMilter
	seen chan<- string
}

func (m *daemonNameMilter) Connect(_, _ string, _ uint16, _ net.IP, mod *gm.Modifier) (gm.Response, error) {
	m.seen <- mod.Macros["{daemon_name}"]
	return gm.RespContinue, nil
}

// A listener's milter_daemon_name is the {daemon_name} of its sessions
// (Postfix's milter_macro_daemon_name per master.cf service); a listener
// without one sends its name. A reload applies a new value to new
// sessions, and keeps the listener's socket.
func TestMilterDaemonNamePerListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 8)
	srv := &gm.Server{NewMilter: func() gm.Milter { return &daemonNameMilter{seen: seen} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := func(mx string) string {
		return reloadBase(dataDir, "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"+mx+
			"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nmilter_daemon_name = \"ORIGINATING\"\n"+
			milterStage("m", "tcp:"+ln.Addr().String(), ""))
	}
	d, path := startFile(t, cfg(""))
	// daemonName opens a session on listener (the milter connects before
	// the greeting) and returns the {daemon_name} the milter got.
	daemonName := func(listener string) string {
		t.Helper()
		c, err := smtp.Dial(d.SMTPAddrs()[listener].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case name := <-seen:
			return name
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the milter saw no connect", listener)
			return ""
		}
	}
	if got := daemonName("mx"); got != "mx" {
		t.Errorf("mx without milter_daemon_name: {daemon_name} = %q, want the listener's name", got)
	}
	if got := daemonName("sub"); got != "ORIGINATING" {
		t.Errorf("sub: {daemon_name} = %q, want ORIGINATING", got)
	}
	addr := d.SMTPAddrs()["mx"].String()
	if err := os.WriteFile(path, []byte(cfg("milter_daemon_name = \"mx.sluice.test\"\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := d.SMTPAddrs()["mx"].String(); got != addr {
		t.Errorf("the reload moved mx from %s to %s", addr, got)
	}
	if got := daemonName("mx"); got != "mx.sluice.test" {
		t.Errorf("mx after the reload: {daemon_name} = %q, want mx.sluice.test", got)
	}
	if got := daemonName("sub"); got != "ORIGINATING" {
		t.Errorf("sub after the reload: {daemon_name} = %q, want ORIGINATING", got)
	}
}
