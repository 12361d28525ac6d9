package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A reload that takes longer than the admin client's usual limit on a
// call (30 s, made 2 s for the test; here three plugin stages that take
// 3 s each to start, within their handshake's 20 s) is waited for:
// `sluice reload`
// says "reloaded" and exits 0. It used to give up at 30 s with "daemon
// unreachable" (exit 2) while the daemon went on and applied the reload.
func TestReloadCommandWaitsForSlowReload(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes and takes several seconds")
	}
	// The admin client's usual limit on a call, 30 s, made 2 s here: the
	// reload below takes longer, and the command must still wait for it.
	adminTimeout = 2 * time.Second
	t.Cleanup(func() { adminTimeout = 0 })
	dir := t.TempDir()
	// The plugin starts at once, but takes 3 s once "slow" exists. Two
	// copies: a reload that names the other one restarts the stages.
	script := fmt.Sprintf("#!/bin/sh\nif [ -e %s/slow ]; then sleep 3; fi\nSLUICE_TEST_MAIN=1 exec %s plugin serve headers\n",
		dir, os.Args[0])
	for _, name := range []string{"plugin-a", "plugin-b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, dir, smtpAddr, adminAddr, sink.Addr)
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withStage := func(plugin string) {
		t.Helper()
		src := string(base)
		for _, name := range []string{"slow1", "slow2", "slow3"} {
			src += fmt.Sprintf("\n[[stage]]\nname = %q\nplugin = %q\n", name, filepath.Join(dir, plugin))
		}
		if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	withStage("plugin-a")
	startServe(t, cfg)

	withStage("plugin-b")
	if err := os.WriteFile(filepath.Join(dir, "slow"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	start := time.Now()
	if code := run([]string{"reload", "-c", cfg}, nil, &o, &e); code != exitOK || strings.TrimSpace(o.String()) != "reloaded" {
		t.Fatalf("slow reload: exit %d after %v, stdout %q, stderr %q", code, time.Since(start), o.String(), e.String())
	}
	if d := time.Since(start); d < 2*adminTimeout {
		t.Fatalf("the reload took %v: not longer than the client's usual timeout, the test shows nothing", d)
	}
}

// A reload the daemon applied all but in part (a changed listener it could
// not bind again) is reported as such (exit 1), not as a refusal that
// keeps the running config, which it does not.
func TestReloadPartlyAppliedIsNotRefused(t *testing.T) {
	h := admin.Handler(admin.Options{Logger: slog.New(slog.DiscardHandler), Reload: func() error {
		return fmt.Errorf("%s: listener mx: listen tcp 127.0.0.1:25: bind: address already in use", daemon.PartialReload)
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var o, e bytes.Buffer
	code := run([]string{"reload", "--admin", srv.URL}, nil, &o, &e)
	if code != exitUser || strings.Contains(e.String(), "refused") || !strings.Contains(e.String(), "reload applied except: listener mx") {
		t.Fatalf("partly applied reload: exit %d, stderr %q", code, e.String())
	}
}
