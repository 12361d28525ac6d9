package main

import (
	"os"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMain lets tests run this test binary as the real sluice command (with
// SLUICE_TEST_MAIN=1), so crash tests SIGKILL a real separate process.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	testlib.RemoveBuilds()
	os.Exit(code)
}
