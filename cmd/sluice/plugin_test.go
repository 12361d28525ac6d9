package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// TestPluginServeByHand: `sluice plugin serve NAME` run from a shell says
// in one line what it is for and exits 1, instead of go-plugin's three
// lines of advice for plugin developers. It runs as a process of its own:
// go-plugin exits the process it runs in.
func TestPluginServeByHand(t *testing.T) {
	cmd := exec.Command(os.Args[0], "plugin", "serve", "headers")
	cmd.Env = append(os.Environ(), "SLUICE_TEST_MAIN=1", sdk.Handshake.MagicCookieKey+"=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUser {
		t.Fatalf("exit: %v", err)
	}
	want := "sluice: sluice plugin serve runs a first-party plugin for the daemon; Sluice starts it, it is not run by hand\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q; want stderr %q", stdout.String(), stderr.String(), want)
	}
	if !strings.HasPrefix(want, "sluice: "+errNotByHand.Error()) {
		t.Fatal("errNotByHand changed")
	}
}
