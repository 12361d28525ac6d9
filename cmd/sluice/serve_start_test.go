package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM while the daemon is starting (here: waiting for a plugin that
// never answers its handshake, which it would for 20 s) ends the process
// at once, exit status 1, with a line saying why. It used to be caught and
// only read once the start was over.
func TestSIGTERMWhileStarting(t *testing.T) {
	dir := t.TempDir()
	// The "plugin" says it is running, then sleeps instead of answering.
	plugin := filepath.Join(dir, "slow-plugin")
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s/pid\necho started > %s\nexec sleep 30\n", dir, fifo)
	if err := os.WriteFile(plugin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	cfg := writeConfig(t, dir, freeAddr(t), freeAddr(t), "127.0.0.1:9")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[stage]]\nname = \"slow\"\nplugin = %q\n", plugin)
	f.Close()

	p := launchServe(t, cfg)
	// The plugin process writes to the FIFO: the daemon is then inside
	// Start. (Opening a FIFO for reading waits for its writer.)
	opened := make(chan error, 1)
	go func() {
		r, err := os.Open(fifo)
		if err == nil {
			_, err = io.ReadAll(r) // to the writer's close: no SIGPIPE for it
			r.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the plugin was never started")
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "signal received while starting, exiting")
	err = p.wait(t, 10*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("exited %v after SIGTERM, want at once (not after the plugin's 20 s start timeout)", el)
	}
}
