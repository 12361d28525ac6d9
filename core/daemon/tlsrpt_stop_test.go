package daemon

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestTLSRPTSavedAfterDrain: a delivery still running when the daemon
// stops finishes within the drain, and the session it counts for the TLS
// reports is in data_dir once Stop returns, though the reports' Run made
// its last save as the stop began. The MX is a sink behind a proxy that
// holds the connection (no greeting) until Run has returned.
func TestTLSRPTSavedAfterDrain(t *testing.T) {
	port := freePort(t)
	sink := testlib.NewSink(t, fmt.Sprintf("127.0.0.3:%d", port)) // no STARTTLS
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted, release := make(chan struct{}, 1), make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() {
				defer c.Close()
				<-release
				s, err := net.Dial("tcp", sink.Addr)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	dns := testlib.NewDNS(t, "a.test. 60 IN MX 10 mx.a.test.", "mx.a.test. 60 IN A 127.0.0.2")
	d := startDaemon(t, fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\ntls_rpt = true\n", dns.Addr, port))
	msg := testlib.Message("alice@sluice.test", "bob@a.test", "tlsrpt", "Hello")
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@a.test"}, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery connection")
	}
	dir := d.opt.Config.Resolve(d.opt.Config.DataDir)
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	d.bg.Wait() // the reports' Run has made its last save
	close(release)
	sink.WaitN(t, 1, 10*time.Second)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	saved, err := os.ReadFile(filepath.Join(dir, tlsrptFile))
	if err != nil || !strings.Contains(string(saved), "starttls-not-supported") {
		t.Errorf("the drained delivery's session not saved at stop: %v %s", err, saved)
	}
}
