package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestReloadCommandAndSIGHUP runs `sluice serve`, refuses a broken config
// through `sluice reload` with its file:line error, applies a new listener
// on SIGHUP and removes it again with `sluice reload`.
func TestReloadCommandAndSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, dir, smtpAddr, adminAddr, sink.Addr)
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfg)

	reload := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(append([]string{"reload"}, args...), nil, &o, &e)
		return code, o.String(), e.String()
	}
	write := func(src string) {
		if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The daemon reads the file and refuses it; `-c` could not be used to
	// find the daemon through a broken file, so --admin.
	write("colour = \"blue\"\n" + string(good))
	code, _, stderr := reload("--admin", adminAddr)
	if code != exitUser || !strings.Contains(stderr, cfg+":1: unknown key colour") {
		t.Fatalf("broken config: exit %d, stderr %q", code, stderr)
	}

	extra := freeAddr(t)
	write(string(good) + fmt.Sprintf("[[listener]]\nname = \"extra\"\nlisten = %q\n", extra))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", extra)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not bind the new listener: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := testlib.Send(extra, "a@sluice.test", []string{"b@remote.test"},
		testlib.Message("a@sluice.test", "b@remote.test", "via extra", "hi")); err != nil {
		t.Fatalf("new listener: %v", err)
	}
	sink.WaitN(t, 1, 10*time.Second)

	write(string(good))
	if code, out, stderr := reload("-c", cfg); code != exitOK || strings.TrimSpace(out) != "reloaded" {
		t.Fatalf("reload: exit %d %q %q", code, out, stderr)
	}
	if c, err := net.Dial("tcp", extra); err == nil {
		c.Close()
		t.Fatal("removed listener still accepts")
	}
	if _, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"},
		testlib.Message("a@sluice.test", "b@remote.test", "still", "hi")); err != nil {
		t.Fatalf("kept listener: %v", err)
	}

	var o, e bytes.Buffer
	if code := run([]string{"reload", "--admin", "127.0.0.1:1"}, nil, &o, &e); code != exitUnreachable {
		t.Fatalf("unreachable daemon: exit %d", code)
	}
}
