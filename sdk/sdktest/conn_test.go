package sdktest_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// The harness writes nothing of its own to a test's output: go-plugin's
// test connection logged its stdio streams' teardown at debug level on
// stderr ("[DEBUG] stdio: received EOF, stopping recv loop: err=\"rpc
// error: code = Unavailable …\""), lines a plugin author read as the cause
// of any failing test. The test runs itself in a child process to see
// that process's stderr whole.
func TestHarnessWritesNothingToStderr(t *testing.T) {
	if os.Getenv("SDKTEST_STDERR_CHILD") == "1" {
		h := sdktest.New(t, noShouting{}, "")
		txn := sdktest.NewTxn("a@example.org", "b@example.net")
		if v := h.Data(txn, []byte("Subject: BUY NOW OR ELSE\r\n\r\nhi\r\n")); v.Action != sdk.ActionReject {
			t.Errorf("action %v, want reject", v.Action)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarnessWritesNothingToStderr$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SDKTEST_STDERR_CHILD=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	if stderr.Len() != 0 {
		t.Fatalf("the harness wrote to stderr:\n%s", stderr.Bytes())
	}
}
