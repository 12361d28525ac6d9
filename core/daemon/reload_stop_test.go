package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Stop (SIGTERM) while a reload starts a plugin that hangs before its
// handshake used to wait for that start: up to the plugin start timeout
// (20 s), then 20 s more for Configure, per stage, since Stop waits for
// the reload. Now Stop ends the start at once: the plugin is killed, the
// reload is refused and the stop goes on.
func TestStopDuringReloadEndsPluginStart(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	script := filepath.Join(dir, "hang.sh")
	// It says it has started, then never answers the handshake.
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\necho $$ > %s\necho started > %s\nexec sleep 600\n", pidFile, fifo)), 0o700)
	dataDir := filepath.Join(dir, "data")
	d, path := startFile(t, reloadBase(dataDir, mxListener))
	if err := os.WriteFile(path, []byte(reloadBase(dataDir, mxListener+fmt.Sprintf("[[stage]]\nname = \"hung\"\nplugin = %q\n", script))), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- d.ReloadFile() }()
	if b, err := os.ReadFile(fifo); err != nil || strings.TrimSpace(string(b)) != "started" { // blocks until the plugin runs
		t.Fatalf("the plugin's start: %q %v", b, err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}

	begun := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	select {
	case err := <-reloaded:
		if err == nil || !strings.Contains(err.Error(), "stopped while starting") {
			t.Errorf("reload: %v, want it refused as stopped while starting", err)
		}
	case <-time.After(15 * time.Second): // under the 20 s start timeout it waited out before
		t.Fatal("the reload still waits for the hung plugin after Stop")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
	t.Logf("stopped in %s", time.Since(begun))
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		// Killed, it may linger as a zombie only until go's exec reaps it,
		// which it has by the time the start failed.
		t.Errorf("the hung plugin (pid %d) still runs: %v", pid, err)
	}
}
