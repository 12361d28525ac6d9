package smtpd

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// shuttingDown is Shutdown's notice (RFC 5321 §3.8).
const shuttingDown = "421 4.3.2 Service shutting down, try again later"

// shutdownAsync runs the server's Shutdown in the background; the
// channel yields its error.
func shutdownAsync(h *harness) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- h.srv.Shutdown(ctx)
	}()
	return errc
}

// replies reads what the server sends until it closes the connection and
// returns the last line of each reply. Every line must be well formed
// (checkReply), and the lines of a multi-line reply must all carry its
// code (RFC 5321 §4.2.1), as Go's textproto insists.
func (d *dialog) replies() []string {
	d.t.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []string
	open := "" // the code of a multi-line reply still open
	for {
		l, err := d.r.ReadString('\n')
		if errors.Is(err, io.EOF) && l == "" {
			if open != "" {
				d.t.Fatalf("closed within a %s- reply (got %q)", open, out)
			}
			return out
		}
		if err != nil {
			d.t.Fatalf("read: %v (got %q, then %q)", err, out, l)
		}
		if bad := checkReply(l); bad != "" {
			d.t.Fatalf("reply line %q: %s", l, bad)
		}
		if open != "" && l[:3] != open {
			d.t.Fatalf("line %q within a %s- reply", l, open)
		}
		open = ""
		if l[3] == '-' {
			open = l[:3]
			continue
		}
		out = append(out, strings.TrimSuffix(l, "\r\n"))
	}
}

// Shutdown during the pause, its banner line out: the greeting is ended
// with its last line before the 421, not by the 421, which would be one
// reply of two codes (RFC 5321 §4.2.1), and the connection closes.
func TestGreetPauseShutdownEndsGreeting(t *testing.T) {
	h := start(t, withGreetPause(longPause))
	d := dialConn(t, h.addr("mx"))
	if got := d.within(5 * time.Second); got != banner {
		t.Fatalf("first line %q, want %q", got, banner)
	}
	errc := shutdownAsync(h)
	got := d.replies()
	if want := []string{greeting, shuttingDown}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the banner line, replies %q, want %q", got, want)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if logs := h.logs.String(); strings.Contains(logs, "early talker") {
		t.Errorf("shutdown taken for early talk:\n%s", logs)
	}
}

// Shutdown during the connect checks: its 421 is the only reply, no
// banner line after it.
func TestGreetPauseShutdownDuringConnectChecks(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := start(t, withGreetPause(longPause), func(o *Options) {
		o.ClientName = func(ctx context.Context, _ netip.Addr) string {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return ""
		}
	})
	d := dialConn(t, h.addr("mx"))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the connect checks did not start")
	}
	errc := shutdownAsync(h)
	if got := d.within(5 * time.Second); got != shuttingDown {
		t.Fatalf("got %q, want %q", got, shuttingDown)
	}
	close(release)
	if got := d.replies(); len(got) != 0 {
		t.Errorf("after the 421, replies %q, want none", got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
