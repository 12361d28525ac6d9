//go:build linux

package plugin

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A plugin that is a shell script running its program without exec
// leaves that program holding the script's stdout and stderr. When it
// hangs before its handshake, the start must still fail at StartTimeout
// and the program must go with the script. Before, killing the script
// left the program running, and go-plugin waited for the pipes it held:
// Start returned only when the program ended, never for one that hangs.
func TestPluginStartTimeoutEndsTheScriptsChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "plugin.sh")
	// sleep stands for the program, hung before its handshake.
	src := "#!/bin/sh\nsleep 3600 &\necho $! >" + pidFile + "\nwait\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *Process
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Start(Options{Stage: "st", Command: []string{script}, ConfigJSON: []byte("{}"),
			Logger: slog.New(slog.DiscardHandler), StartTimeout: 300 * time.Millisecond})
		done <- result{p, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Start still waits 30 s after its 300ms start timeout")
	}
	if r.err == nil {
		r.p.Close()
		t.Fatal("a plugin that never answered its handshake started")
	}
	if !strings.Contains(r.err.Error(), "plugin did not finish starting (handshake) within 300ms") {
		t.Fatalf("start: %v", r.err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("the script's child %d outlived the failed start", pid)
	}
}

// alive reports whether process pid runs: a zombie (killed, not yet
// reaped by whoever adopted it) does not.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}
