package daemon

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/queue"
)

// A session still in DATA when the drain timeout ends is cut off, and the
// stop still succeeds: the drain did what it was configured to do, so
// `sluice serve` exits 0 on SIGTERM and a service manager does not mark the
// requested stop as failed. The idle delivery agent is not blamed for the
// time the sessions took.
func TestStopAfterDrainTimeoutSucceeds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := mustParse(t, fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
`, dir))
	d, err := Start(Options{Config: c, Logger: discardLog(), DrainTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	expect := func(cmd, code string) {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", cmd, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("after %q: %q, want %s", cmd, line, code)
			}
			if len(line) < 4 || line[3] != '-' {
				return
			}
		}
	}
	expect("", "220")
	expect("EHLO client.test", "250")
	expect("MAIL FROM:<a@client.test>", "250")
	expect("RCPT TO:<b@example.net>", "250")
	expect("DATA", "354")
	fmt.Fprintf(conn, "Subject: half\r\n\r\nthe rest never comes\r\n")

	if err := d.Stop(); err != nil {
		t.Fatalf("Stop after the drain timeout: %v, want nil", err)
	}
	// The half-sent message was never accepted, so it is not queued.
	q, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	counts, err := q.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for state, n := range counts {
		if n != 0 {
			t.Fatalf("%d %s messages queued, want none", n, state)
		}
	}
}
