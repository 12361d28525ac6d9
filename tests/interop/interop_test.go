//go:build interop

// Package interop runs bin/sluice against real peers from Debian: swaks
// and Postfix's smtp-source as clients, Postfix's smtp-sink as the next hop,
// and whole Postfix instances and an Exim on either side of Sluice
// (postfix_test.go, exim_test.go). `make interop` installs them and sets
// SLUICE_BIN.
package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func need(t *testing.T, cmd string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		if p2 := "/usr/sbin/" + cmd; fileExists(p2) {
			return p2
		}
		t.Fatalf("%s not installed (make interop installs it): %v", cmd, err)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freeAddr is a loopback address free now for a peer or Sluice to listen
// on later. Its port is below the ephemeral range (testlib.SharedPort):
// one the kernel handed out for port 0 could be given again, between
// this call and the bind, to any outgoing connection — the shared
// OpenSMTPD instance's Sluice address once was ("bind: address already
// in use").
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testlib.SharedPort(t, "127.0.0.1")))
}

// waitPort waits until addr accepts TCP connections.
func waitPort(t *testing.T, addr string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("process serving %s exited", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s never accepted connections", addr)
}

// startSink runs smtp-sink dumping each message into a file under dir.
func startSink(t *testing.T, dir string) string {
	t.Helper()
	bin := need(t, "smtp-sink")
	addr := freeAddr(t)
	// smtp-sink runs as nobody: it must reach and write the dump folder
	// (t.TempDir's parent is 0700).
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	args := []string{"-d", dir + "/%H%M%S.", addr, "256"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	waitPort(t, addr, done)
	return addr
}

// startSluice runs bin/sluice serve with a config relaying to sink.
func startSluice(t *testing.T, sink, relayNets string) (smtpAddr, adminAddr string) {
	t.Helper()
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		t.Fatal("SLUICE_BIN not set (run make interop)")
	}
	dir := t.TempDir()
	smtpAddr, adminAddr = freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
local_domains = ["sluice.test"]
relay_networks = [%q]
[admin]
listen = %q
[[listener]]
name = "mx"
listen = %q
[delivery]
relay = %q
%s`, relayNets, adminAddr, smtpAddr, sink, loopbackDNS(t, ""))), 0o600)
	cmd := exec.Command(bin, "serve", "-c", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				t.Log("sluice: " + sc.Text())
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("sluice did not stop within 15s of SIGTERM")
		}
	})
	waitPort(t, smtpAddr, done)
	return smtpAddr, adminAddr
}

// loopbackDNS is the [dns] table of a Sluice config: a miekg/dns server
// on loopback that knows no name (every question NXDOMAIN), so that no
// interop test asks the system resolver (the client's name, an MX); ""
// when the stages given already have their own [dns].
func loopbackDNS(t *testing.T, stages string) string {
	t.Helper()
	if strings.HasPrefix(stages, "[dns]") || strings.Contains(stages, "\n[dns]") {
		return ""
	}
	return fmt.Sprintf("[dns]\nservers = [%q]\n", testlib.NewDNS(t).Addr)
}

// waitDumps waits for n message files in dir and returns their contents.
// smtp-sink writes a file as the message arrives, so a file counts once
// it has content that did not change since the previous look.
func waitDumps(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	before := map[string]string{}
	for {
		var out []string
		now := map[string]string{}
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				now[p] = string(b)
				if len(b) > 0 && before[p] == string(b) {
					out = append(out, string(b))
				}
			}
			return nil
		})
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d complete messages at the sink, want %d", len(out), n)
		}
		before = now
		time.Sleep(50 * time.Millisecond) // polling the sink's dump directory, bounded
	}
}

func TestSwaksThroughSluiceToSmtpSink(t *testing.T) {
	swaks := need(t, "swaks")
	dumps := t.TempDir()
	sink := startSink(t, dumps)
	addr, _ := startSluice(t, sink, "127.0.0.0/8")
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(swaks, "--server", host, "--port", port,
		"--from", "alice@sluice.test", "--to", "bob@example.net",
		"--header", "Subject: interop-swaks", "--body", "hello from swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("no queued reply in swaks output:\n%s", out)
	}
	for _, cap := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "SIZE", "ENHANCEDSTATUSCODES", "DSN"} {
		if !strings.Contains(string(out), "<-  250-"+cap) && !strings.Contains(string(out), "<-  250 "+cap) {
			t.Errorf("EHLO did not advertise %s to swaks", cap)
		}
	}
	got := waitDumps(t, dumps, 1)
	if !strings.Contains(got[0], "Subject: interop-swaks") || !strings.Contains(got[0], "by mx.sluice.test") {
		t.Fatalf("sink got:\n%s", got[0])
	}
}

func TestSwaksRelayDeniedFromOutsideRelayNetworks(t *testing.T) {
	swaks := need(t, "swaks")
	sink := startSink(t, t.TempDir())
	addr, _ := startSluice(t, sink, "192.0.2.0/24")
	host, port, _ := net.SplitHostPort(addr)
	out, _ := exec.Command(swaks, "--server", host, "--port", port,
		"--from", "alice@example.com", "--to", "bob@example.net").CombinedOutput()
	if !strings.Contains(string(out), "<** 554 5.7.1 ") {
		t.Fatalf("relay not refused:\n%s", out)
	}
	out, err := exec.Command(swaks, "--server", host, "--port", port,
		"--from", "", "--to", "postmaster@sluice.test", "--body", "null sender to a local domain").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Fatalf("local domain refused: %v\n%s", err, out)
	}
}

func TestSmtpSourceLoad(t *testing.T) {
	src := need(t, "smtp-source")
	dumps := t.TempDir()
	sink := startSink(t, dumps)
	addr, _ := startSluice(t, sink, "127.0.0.0/8")
	const n = 200
	out, err := exec.Command(src, "-s", "10", "-l", "4096", "-m", fmt.Sprint(n),
		"-f", "sender@sluice.test", "-t", "rcpt@example.net", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	got := waitDumps(t, dumps, n)
	if len(got) != n {
		t.Fatalf("%d messages at the sink, want %d", len(got), n)
	}
}
