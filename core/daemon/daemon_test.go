package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// freePort returns a TCP port free on 127.0.0.1, 127.0.0.2 and 127.0.0.3,
// so sinks posing as different MX hosts share delivery.port.
func freePort(t *testing.T) int {
	return testlib.SharedPort(t, "127.0.0.1", "127.0.0.2", "127.0.0.3")
}

func startDaemon(t *testing.T, extra string) *Daemon {
	t.Helper()
	return startDaemonTop(t, "", extra)
}

// startDaemonTop is startDaemon with top-level keys in top.
func startDaemonTop(t *testing.T, top, extra string) *Daemon {
	t.Helper()
	src := fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
%s
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
`, filepath.Join(t.TempDir(), "data"), top, extra)
	c := mustParse(t, src)
	log := discardLog()
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	d, err := Start(Options{Config: c, Logger: log, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestEndToEndTwoDomains: go-smtp client → sluice → two go-smtp sinks found
// by MX through a loopback miekg/dns server. Each domain gets its own
// transaction and the bytes arrive unchanged but for the Received header.
func TestEndToEndTwoDomains(t *testing.T) {
	port := freePort(t)
	sinkA := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	sinkB := testlib.NewSink(t, fmt.Sprintf("127.0.0.3:%d", port))
	dns := testlib.NewDNS(t,
		"a.test. 60 IN MX 10 mx.a.test.",
		"mx.a.test. 60 IN A 127.0.0.2",
		"b.test. 60 IN MX 10 mx.b.test.",
		"mx.b.test. 60 IN A 127.0.0.3",
	)
	d := startDaemon(t, fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\n", dns.Addr, port))
	msg := testlib.Message("alice@sluice.test", "bob@a.test", "two-domains", "Hello,\r\n..a line with a leading dot\r\nbye")
	reply, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test",
		[]string{"bob@a.test", "carol@a.test", "dave@b.test"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reply, "2.0.0 Ok: queued as ") && !strings.Contains(reply, "queued as") {
		t.Fatalf("reply %q", reply)
	}
	a := sinkA.WaitN(t, 1, 10*time.Second)
	b := sinkB.WaitN(t, 1, 10*time.Second)
	sort.Strings(a[0].Rcpts)
	if got := strings.Join(a[0].Rcpts, ","); got != "bob@a.test,carol@a.test" {
		t.Fatalf("a.test transaction rcpts %q", got)
	}
	if got := strings.Join(b[0].Rcpts, ","); got != "dave@b.test" {
		t.Fatalf("b.test transaction rcpts %q", got)
	}
	for _, dl := range []testlib.Delivery{a[0], b[0]} {
		if dl.From != "alice@sluice.test" {
			t.Fatalf("from %q", dl.From)
		}
		if !bytes.HasPrefix(dl.Data, []byte("Received: ")) {
			t.Fatalf("no Received header first: %q", dl.Data)
		}
		i := bytes.Index(dl.Data, []byte("\r\nFrom: "))
		if i < 0 || !bytes.Equal(dl.Data[i+2:], msg) {
			t.Fatalf("body changed:\n%q\nwant\n%q", dl.Data, msg)
		}
		hdr := string(dl.Data[:i])
		if !strings.Contains(hdr, "by mx.sluice.test") || strings.Count(hdr, "Received:") != 1 {
			t.Fatalf("Received header %q", hdr)
		}
	}
	waitEmpty(t, d)
	if len(sinkA.Deliveries()) != 1 || len(sinkB.Deliveries()) != 1 {
		t.Fatalf("duplicates: %d %d", len(sinkA.Deliveries()), len(sinkB.Deliveries()))
	}
}

// waitMessage waits until message id satisfies ok and returns it; want
// says what ok waits for, for the failure.
func waitMessage(t *testing.T, d *Daemon, id, want string, ok func(*envelope.Message) bool) *envelope.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := d.Queue().Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s (%s, %d pending, %d attempts): want %s", id, m.State, len(m.Pending()), m.Attempts, want)
		}
		<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// waitEmpty waits until the queue holds no message (every delivery recorded)
// and its kept counts say so too: they are raised in memory just after the
// commit that a listing already sees.
func waitEmpty(t *testing.T, d *Daemon) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := d.Queue().List(0)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := d.Queue().Counts()
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for _, n := range counts {
			counted += n
		}
		if len(msgs) == 0 && counted == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty: %d listed, counts %v", len(msgs), counts)
		}
		<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// TestLocalDomainAccepted checks mail to a local domain is accepted and delivered end to end.
func TestLocalDomainAccepted(t *testing.T) {
	port := freePort(t)
	sink := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	d := startDaemon(t, fmt.Sprintf("[delivery]\nrelay = %q\n", sink.Addr))
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "", []string{"postmaster@sluice.test"},
		testlib.Message("x@y.test", "postmaster@sluice.test", "null-sender", "hi")); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)
	if got[0].From != "" || got[0].Rcpts[0] != "postmaster@sluice.test" {
		t.Fatalf("got %+v", got[0])
	}
}

func mustParse(t testing.TB, src string) *config.Config {
	t.Helper()
	c, err := config.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
