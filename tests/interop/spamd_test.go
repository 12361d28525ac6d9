//go:build interop

package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Debian's spamd (scripts/install-deps.sh milters), local tests only
// (-L), started once for every test of the binary that needs it
// (spamass-milter's and the spamd plugin's): it loads its rules for some
// seconds at each start. TestMain stops it.

type spamdPeer struct {
	addr string
	d    *peerDaemon
	dir  string
	err  error
}

var (
	spamdOnce   sync.Once
	sharedSpamd *spamdPeer
)

// needSpamd returns the shared spamd, starting it at the first call.
func needSpamd(t *testing.T) *spamdPeer {
	t.Helper()
	need(t, "spamd")
	spamdOnce.Do(func() { sharedSpamd = startSpamd() })
	if sharedSpamd.err != nil {
		t.Fatal(sharedSpamd.err)
	}
	return sharedSpamd
}

// stopSpamd ends the shared spamd if a test started it.
func stopSpamd() {
	if p := sharedSpamd; p != nil && p.d != nil {
		p.d.stop()
		os.RemoveAll(p.dir)
	}
}

func startSpamd() *spamdPeer {
	p := &spamdPeer{addr: freeAddrNoT()}
	p.dir, p.err = os.MkdirTemp("", "sluice-spamd-")
	if p.err != nil {
		return p
	}
	// spamd drops to debian-spamd, which writes its pid file here.
	if p.err = os.Chmod(p.dir, 0o777); p.err != nil {
		return p
	}
	script, _ := filepath.Abs(filepath.Join("milters", "start-spamd.sh"))
	p.d, p.err = startPeerDaemon("spamd", exec.Command("sh", script, p.dir, port(p.addr)),
		filepath.Join(p.dir, "out"), p.addr, 60*time.Second, 8*time.Second)
	if p.err != nil {
		os.RemoveAll(p.dir)
	}
	return p
}

// spamdStage renders a spamd plugin stage asking address, refusing at
// reject_score 5. The test's clients are on loopback, in relay_networks,
// which the stage skips by default.
func spamdStage(address string) string {
	return fmt.Sprintf(`[[stage]]
name         = "spamassassin"
plugin       = "spamd"
data_timeout = "40s"
[stage.config]
address            = %q
timeout            = "30s"
reject_score       = 5.0
skip_relay_clients = false
`, address)
}

// TestSpamdPlugin: the first-party spamd stage against SpamAssassin's
// spamd: GTUBE is refused with 550 5.7.1 and nothing of the report; a
// clean message is delivered with X-Spam-Status: No and its score, a
// forged X-Spam-Flag gone, and spamd saw Sluice's Received field (no
// NO_RECEIVED rule); with spamd not there, the message is tempfailed
// (on_error's default) rather than let through unscanned.
func TestSpamdPlugin(t *testing.T) {
	spamd := needSpamd(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, sink.Addr, spamdStage(spamd.addr))

	gtube, err := os.ReadFile(scriptPath(t, "gtube.eml"))
	if err != nil {
		t.Fatal(err)
	}
	gtube = bytes.ReplaceAll(bytes.ReplaceAll(gtube, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	_, err = testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, gtube)
	if err == nil || err.Error() != "550 5.7.1 This message looks like spam to us" {
		t.Fatalf("GTUBE: %v, want 550 5.7.1 This message looks like spam to us", err)
	}

	if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
		message("alice@example.org", "lunch on friday", "X-Spam-Flag: YES")); err != nil {
		t.Fatalf("clean message: %v", err)
	}
	got := string(sink.WaitN(t, 1, 30*time.Second)[0].Data)
	status := unfolded(got, "X-Spam-Status")
	if !strings.HasPrefix(status, "No, score=") || !strings.Contains(status, " required=5.0 tests=") {
		t.Fatalf("X-Spam-Status %q, want No, score=... required=5.0 tests=...:\n%s", status, got)
	}
	if strings.Contains(got, "X-Spam-Flag") {
		t.Errorf("the sender's X-Spam-Flag is still there:\n%s", got)
	}
	if strings.Contains(status, "NO_RECEIVED") || strings.Contains(status, "NO_RELAYS") {
		t.Errorf("spamd did not see Sluice's Received field: %s", status)
	}

	// report = true: one REPORT request, and the table it answers
	// becomes X-Spam-Report.
	t.Run("report", func(t *testing.T) {
		sink := testlib.NewSink(t, "127.0.0.1:0")
		addr, _ := startSluiceWith(t, sink.Addr, spamdStage(spamd.addr)+"report             = true\n")
		if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
			message("alice@example.org", "lunch on friday")); err != nil {
			t.Fatalf("clean message: %v", err)
		}
		got := string(sink.WaitN(t, 1, 30*time.Second)[0].Data)
		if report := unfolded(got, "X-Spam-Report"); !strings.HasPrefix(report, "Content analysis details:") {
			t.Fatalf("X-Spam-Report %q, want spamd's table:\n%s", report, got)
		}
		// The rules hit are read from that table (ALL_TRUSTED at least:
		// the client is on loopback).
		if status := unfolded(got, "X-Spam-Status"); !strings.Contains(status, "ALL_TRUSTED") {
			t.Errorf("X-Spam-Status %q, want the table's rules:\n%s", status, got)
		}
	})

	t.Run("spamd down", func(t *testing.T) {
		down := freeAddr(t) // nothing listens there: a stopped spamd
		addr, _ := startSluiceWith(t, sink.Addr, spamdStage(down))
		_, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, message("alice@example.org", "anyone there"))
		if err == nil || !strings.HasPrefix(err.Error(), "451 ") {
			t.Fatalf("spamd down: %v, want 451", err)
		}
	})
}

// unfolded is the value of msg's first field name, its folding undone
// (RFC 5322 §2.2.3).
func unfolded(msg, name string) string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	_, v, ok := strings.Cut("\r\n"+head, "\r\n"+name+": ")
	if !ok {
		return ""
	}
	for i := strings.Index(v, "\r\n"); i >= 0 && i+2 < len(v) && (v[i+2] == ' ' || v[i+2] == '\t'); i = strings.Index(v, "\r\n") {
		v = v[:i] + v[i+2:]
	}
	v, _, _ = strings.Cut(v, "\r\n")
	return v
}
