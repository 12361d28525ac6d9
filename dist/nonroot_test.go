package dist

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// nobody is the unprivileged user the test runs the daemon as, in place of
// the unit's sluice (Debian's nobody:nogroup).
const nobody = "65534"

// The installed binary, run as the unit runs it — an unprivileged user
// with CAP_NET_BIND_SERVICE alone (ambient and bounding), no new
// privileges — on the installed config with loopback addresses and a
// data_dir that user owns: it binds a port below 1024, starts its plugin
// processes, queues and delivers a message, reloads on SIGHUP, and drains
// on SIGTERM with status 0. setpriv stands in for systemd's User=,
// AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges=.
func TestInstalledServesAsUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running the daemon as another user needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (Debian package util-linux)")
	}
	bin := filepath.Dir(testlib.Build(t, "./cmd/sluice"))
	// The unprivileged user must reach the installed tree, and
	// t.TempDir's parent is 0700.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(dir, "root")
	install(t, "install", bin, "DESTDIR="+dest)
	sluice := filepath.Join(dest, "usr/local/bin/sluice")
	src, err := os.ReadFile(filepath.Join(dest, "etc/sluice/sluice.toml"))
	if err != nil {
		t.Fatal(err)
	}
	queue := filepath.Join(dir, "queue") // as StateDirectory= makes it
	if err := os.Mkdir(queue, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(queue, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dns := testlib.NewDNS(t) // every name NXDOMAIN: no system resolver

	var d *daemon
	for try := 0; d == nil; try++ {
		// No port below 1024 can be asked of the kernel: one that is free
		// now is tried, and another if something took it meanwhile.
		port := lowPort(t)
		conf := filepath.Join(dir, "sluice.toml")
		text := replaceAll(t, string(src),
			`data_dir       = "/var/lib/sluice"`, fmt.Sprintf("data_dir = %q", queue),
			`listen = "0.0.0.0:25"`, fmt.Sprintf(`listen = "127.0.0.1:%d"`, port),
			`listen = "127.0.0.1:8025"`, `listen = "127.0.0.1:0"`,
			"[delivery]\n", fmt.Sprintf("[delivery]\nrelay = %q\n", sink.Addr),
		) + fmt.Sprintf("\n[dns]\nservers = [%q]\n", dns.Addr)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var inUse bool
		d, inUse = startDaemon(t, setpriv, sluice, conf)
		if d == nil && (!inUse || try == 4) {
			t.Fatal("daemon did not start")
		}
	}

	reply, err := testlib.Send(d.smtp, "alice@example.org", []string{"bob@example.net"},
		testlib.Message("alice@example.org", "bob@example.net", "service", "as nobody"))
	if err != nil || !strings.Contains(reply, "queued as") {
		t.Fatalf("send: %q %v", reply, err)
	}
	sink.WaitN(t, 1, 30*time.Second)
	d.waitLine(t, "status=sent") // logged once the queue has recorded it
	var owned int
	entries, _ := os.ReadDir(queue)
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
			t.Errorf("%s in data_dir owned by uid %d, not the daemon's user", e.Name(), st.Uid)
		}
		owned++
	}
	if owned == 0 {
		t.Error("nothing written in data_dir")
	}
	// mailq, the symlink, lists the queue as the unprivileged user too.
	mailq := exec.Command(setpriv, "--reuid="+nobody, "--regid="+nobody, "--clear-groups",
		filepath.Join(dest, "usr/local/bin/mailq"), "--admin", d.admin)
	if out, err := mailq.CombinedOutput(); err != nil || !strings.Contains(string(out), "queue is empty") {
		t.Errorf("mailq: %v\n%s", err, out)
	}

	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLine(t, "config reloaded")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitLine(t, "sluice stopped")
	select {
	case <-d.exited:
		if d.err != nil {
			t.Fatalf("drain: %v", d.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit after the drain")
	}
}

// daemon is a sluice serve run by the test, with the addresses it logged.
type daemon struct {
	cmd         *exec.Cmd
	smtp, admin string
	lines       chan string
	exited      chan struct{} // closed once the process is reaped
	err         error         // its exit, once exited is closed
}

var startedRE = regexp.MustCompile(`msg="sluice started".* listener\.mx=(\S+) admin=(\S+)`)

// startDaemon runs sluice serve -c conf as nobody, as the unit does, and
// waits for its "sluice started" line. It returns nil and whether the
// listener's port was taken when the daemon exits before that line.
func startDaemon(t *testing.T, setpriv, sluice, conf string) (*daemon, bool) {
	t.Helper()
	cmd := exec.Command(setpriv, "--reuid="+nobody, "--regid="+nobody, "--clear-groups",
		"--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
		"--bounding-set=-all,+net_bind_service", "--no-new-privs",
		sluice, "serve", "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, lines: make(chan string, 1024), exited: make(chan struct{})}
	var log strings.Builder
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	})
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			log.WriteString(s.Text() + "\n")
			select {
			case d.lines <- s.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		close(d.lines)
		d.err = cmd.Wait()
		close(d.exited)
	}()
	timeout := time.After(60 * time.Second)
	var last string
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				return nil, strings.Contains(last, "address already in use")
			}
			last = l
			if m := startedRE.FindStringSubmatch(l); m != nil {
				d.smtp, d.admin = m[1], m[2]
				return d, false
			}
		case <-timeout:
			t.Fatal("no sluice started line in 60 s")
		}
	}
}

// waitLine waits for a log line holding text.
func (d *daemon) waitLine(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("daemon exited before logging %q", text)
			}
			if strings.Contains(l, text) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q line in 60 s", text)
		}
	}
}

// lowPort returns a loopback port below 1024 that is free now.
func lowPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 600 + rand.IntN(400)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
	}
	t.Fatal("no free port below 1024")
	return 0
}

// replaceAll replaces each old with its new once, failing when the text
// lacks one: the installed config is what the daemon is run on.
func replaceAll(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("installed config lacks %q", oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return s
}
