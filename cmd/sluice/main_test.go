package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMain lets tests run this test binary as the real sluice command (with
// SLUICE_TEST_MAIN=1), so crash tests SIGKILL a real separate process.
func TestMain(m *testing.M) {
	// Never the host's installed config or the caller's $SLUICE_CONFIG:
	// a path in a directory that does not exist stands for a host without.
	installedConfig = filepath.Join(os.TempDir(), "sluice-test-no-such-dir", "sluice.toml")
	os.Unsetenv("SLUICE_CONFIG")
	if os.Getenv("SLUICE_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	testlib.RemoveBuilds()
	os.Exit(code)
}
