package smtpd

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A Dovecot that accepts but does not answer (hung, or an inet: socket
// whose host drops packets) must not stall EHLO: Sluice learns its
// mechanisms in the background, as Postfix's smtpd asks at start-up, and
// meanwhile offers PLAIN and LOGIN. The probe made at Start is the only
// one while it is under way; once Dovecot answers, EHLO offers what it
// announced. Before, each EHLO under TLS waited up to 5 s for Dovecot, a
// stall any client could trigger on every connection.
func TestAuthDovecotEHLONeverWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{}) // Dovecot answers once it is closed
	probed := make(chan struct{})  // the first connection is over
	var accepts atomic.Int32
	var wg sync.WaitGroup
	var once sync.Once
	t.Cleanup(func() {
		ln.Close()
		once.Do(func() { close(release) })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := accepts.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				<-release
				_, _ = c.Write([]byte("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\nCOOKIE\tx\nDONE\n"))
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
				if n == 1 {
					close(probed)
				}
			}()
		}
	}()

	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, func(o *Options) { o.Config.Auth.DovecotSocket = path })
	d := h.dialTLS("sub", clientTLS)
	for range 2 {
		began := time.Now()
		caps := strings.Join(d.ehloCaps(), "\n")
		// The old wait was 5 s: a bound well under it, far above an
		// EHLO's own time.
		if took := time.Since(began); took > 4*time.Second {
			t.Fatalf("EHLO took %v: it waited for Dovecot", took)
		}
		if !strings.Contains(caps, "AUTH PLAIN LOGIN") {
			t.Fatalf("EHLO %q, want AUTH PLAIN LOGIN before Dovecot answered", caps)
		}
	}

	once.Do(func() { close(release) })
	select {
	case <-probed:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never finished")
	}
	caps := strings.Join(d.ehloCaps(), "\n")
	if !strings.Contains(caps, "AUTH PLAIN") || strings.Contains(caps, "LOGIN") {
		t.Errorf("EHLO %q, want AUTH PLAIN alone, as Dovecot announced", caps)
	}
	if n := accepts.Load(); n != 1 {
		t.Errorf("Dovecot was asked %d times, want once", n)
	}
}
