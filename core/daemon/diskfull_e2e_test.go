package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// diskFullChildEnv selects what this test binary does as a child of
// TestDiskFullEndToEnd, inside the mount namespace holding the tmpfs.
const diskFullChildEnv = "SLUICE_DAEMON_TEST_DISKFULL"

// diskFullChildLimit bounds each child; reaching it means Sluice hung.
const diskFullChildLimit = 60 * time.Second

// A real full disk: an 8 MiB tmpfs in a private mount namespace (root
// only; skipped elsewhere). With the guard off, a daemon taking mail until
// the disk is full exits with status 1 and one fatal line, not a panic or
// a hang; start-up on the full disk refuses with the free-space line (or,
// guard off, does not hang); and once space is freed the queue holds
// every message that was acknowledged.
func TestDiskFullEndToEnd(t *testing.T) {
	if mode := os.Getenv(diskFullChildEnv); mode != "" {
		os.Exit(diskFullChild(mode))
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	// The namespace lives as long as this shell, which waits on stdin.
	holder := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=8m tmpfs "$1" && echo ready && exec cat`, "sh", dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var holderErr strings.Builder
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	defer func() { _ = stdin.Close(); _ = holder.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		_ = stdin.Close()
		_ = holder.Wait()
		t.Skipf("cannot mount a tmpfs in a private mount namespace: %q %v %s", line, err, holderErr.String())
	}
	run := func(mode string, env ...string) (code int, out, errOut string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), diskFullChildLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(holder.Process.Pid), "-m", "--",
			os.Args[0], "-test.run", "^TestDiskFullEndToEnd$")
		cmd.Env = append(append(os.Environ(), diskFullChildEnv+"="+mode, "SLUICE_TEST_DIR="+dir), env...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("%s: still running after %v (hung); stdout:\n%s\nstderr:\n%s", mode, diskFullChildLimit, o.String(), e.String())
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", mode, err)
		}
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}

	code, out, errOut := run("fill", "SLUICE_TEST_PORT="+strconv.Itoa(freePort(t)))
	if code != 1 || strings.Contains(errOut, "panic") || strings.Count(errOut, "fatal storage error, exiting") != 1 ||
		!strings.Contains(errOut, "no space left on device") {
		t.Fatalf("fill: exit %d, want 1 with one fatal line; stdout:\n%s\nstderr:\n%s", code, tail(out), tail(errOut))
	}
	var acked []string
	for _, l := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(l, "ACK "); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) == 0 {
		t.Fatalf("fill: no message acknowledged before the disk was full; stdout:\n%s\nstderr:\n%s", tail(out), tail(errOut))
	}

	code, out, _ = run("start", "SLUICE_TEST_MINFREE=67108864")
	if code != 1 || !strings.Contains(out, "bytes free on its file system, need at least 67108864 (queue_minfree)") {
		t.Errorf("start on the full disk: exit %d, output:\n%s", code, out)
	}
	// Guard off: Open may succeed (nothing to write back) or fail for
	// lack of space; it must not hang (run fails the test if it does).
	code, out, _ = run("start", "SLUICE_TEST_MINFREE=-1")
	t.Logf("start, guard off, on the full disk: exit %d: %s", code, strings.TrimSpace(out))
	if code != 0 && !strings.Contains(out, "no space left on device") {
		t.Errorf("start, guard off: exit %d without the cause, output:\n%s", code, out)
	}

	code, out, errOut = run("check")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	stored := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(l, "STORED "); ok {
			stored[id] = true
		}
	}
	for _, id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged message %s lost", id)
		}
		delete(stored, id)
	}
	// The message whose 250 the exit cut off may be there, no other.
	if len(stored) > 1 {
		t.Errorf("%d messages stored that were never acknowledged: %v", len(stored), stored)
	}
	t.Logf("%d messages acknowledged, all kept", len(acked))
}

// diskFullChild runs one step of TestDiskFullEndToEnd; it returns the
// process's exit code (the fill step should never return).
func diskFullChild(mode string) int {
	dir := os.Getenv("SLUICE_TEST_DIR")
	dataDir := filepath.Join(dir, "data")
	filler := filepath.Join(dir, "filler")
	config := func(minFree, port string) string {
		return fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[limits]
queue_minfree = %s
[delivery]
relay = "127.0.0.1:9"
[[listener]]
name = "mx"
listen = "127.0.0.1:%s"
`, dataDir, minFree, port)
	}
	switch mode {
	case "fill":
		d, err := Start(Options{Config: parseChild(config("-1", os.Getenv("SLUICE_TEST_PORT"))), Logger: stderrLog()})
		if err != nil {
			fmt.Println("start:", err)
			return 3
		}
		addr := d.SMTPAddrs()["mx"].String()
		body := testlib.Message("a@example.org", "b@example.net", "fill", strings.Repeat(strings.Repeat("0123456789", 7)+"\r\n", 900))
		for i := 0; i < 300; i++ {
			if i == 5 {
				// Some mail is in; now the disk fills behind Sluice's back.
				if err := fill(filler); err != nil {
					fmt.Println("fill:", err)
					return 3
				}
			}
			reply, err := testlib.Send(addr, "a@example.org", []string{"b@example.net"}, body)
			if err != nil {
				fmt.Println("send:", err)
				continue
			}
			f := strings.Fields(reply)
			fmt.Println("ACK", f[len(f)-1])
		}
		fmt.Println("still running after 300 messages on a full disk")
		return 5
	case "start":
		d, err := Start(Options{Config: parseChild(config(os.Getenv("SLUICE_TEST_MINFREE"), "0")), Logger: stderrLog()})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("started")
		_ = d.Stop()
		return 0
	case "check":
		if err := os.Remove(filler); err != nil {
			fmt.Println(err)
			return 3
		}
		q, err := queue.Open(dataDir, queue.Options{})
		if err != nil {
			fmt.Println(err)
			return 3
		}
		defer q.Close()
		if err := q.Walk("", func(m *envelope.Message) bool { fmt.Println("STORED", m.ID); return true }); err != nil {
			fmt.Println(err)
			return 3
		}
		return 0
	}
	return 2
}

// tail is the end of a child's output, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// fill writes path until its file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if strings.Contains(err.Error(), "no space left on device") {
				return f.Sync()
			}
			return err
		}
	}
}

func stderrLog() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// parseChild parses a child's config; an error is the test's own bug.
func parseChild(src string) *config.Config {
	c, err := config.Parse("test.toml", []byte(src))
	if err != nil {
		panic(err)
	}
	return c
}
