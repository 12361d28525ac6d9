package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func writeConfig(t *testing.T, dir, smtpAddr, adminAddr, relay string) string {
	t.Helper()
	cfg := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = %q
[[listener]]
name = "mx"
listen = %q
[delivery]
relay = %q
retry = ["20ms"]
jitter = 0.01
`, adminAddr, smtpAddr, relay)
	p := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// freeAddr is a loopback address for a sluice process to listen on
// later. Its port is below the ephemeral range (testlib.SharedPort): one
// a listen on port 0 handed out can go, before the process binds it, to
// any other test's port-0 listener or outgoing connection.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testlib.SharedPort(t, "127.0.0.1")))
}

// TestCrashLosesNothing SIGKILLs the daemon while 200 messages are being
// submitted by 20 concurrent clients, restarts it, and checks that every
// message answered with 250 reaches the sink exactly once. The sink answers
// 451 before the crash so no delivery is in flight when the process dies:
// what is checked is the queue's durability, not SMTP's own at-least-once
// window between the sink's 250 and our record of it.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	var mu sync.Mutex
	accepting := false
	sink.OnData(func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if !accepting {
			return testlib.Temp
		}
		return nil
	})
	smtpAddr := freeAddr(t)
	cfg := writeConfig(t, dir, smtpAddr, freeAddr(t), sink.Addr)
	p := startServe(t, cfg)

	const clients, perClient = 20, 10
	acked := make(chan string, clients*perClient)
	killAt := make(chan struct{})
	var once sync.Once
	var n int
	var nmu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				tag := fmt.Sprintf("crash-%d-%d", c, i)
				r, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"},
					testlib.Message("a@sluice.test", "b@remote.test", tag, "body of "+tag))
				if err != nil {
					continue // refused or cut by the kill: not acknowledged
				}
				if !strings.Contains(r, "queued as") {
					t.Errorf("%s: acknowledged with %q", tag, r)
				}
				acked <- tag + " " + r
				nmu.Lock()
				n++
				if n == 60 {
					once.Do(func() { close(killAt) })
				}
				nmu.Unlock()
			}
		}(c)
	}
	select {
	case <-killAt:
	case <-time.After(60 * time.Second):
		t.Fatal("60 acknowledgements did not arrive")
	}
	p.kill()
	wg.Wait()
	close(acked)
	want := map[string]bool{}
	replies := map[string]string{}
	for a := range acked {
		tag, r, _ := strings.Cut(a, " ")
		want[tag] = true
		replies[tag] = r
	}
	if len(want) < 60 {
		t.Fatalf("only %d acknowledged", len(want))
	}
	mu.Lock()
	accepting = true
	mu.Unlock()
	startServe(t, cfg)
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.Deliveries()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the sink, bounded
	}
	if got := sink.Deliveries(); len(got) < len(want) {
		for tag := range want {
			found := false
			for _, d := range got {
				if strings.Contains(string(d.Data), "Subject: "+tag+"\r\n") {
					found = true
				}
			}
			if !found {
				t.Errorf("acknowledged %s (%s) never delivered", tag, replies[tag])
			}
		}
		t.FailNow()
	}
	// Let a straggler (a duplicate) show itself: one more message after the
	// backlog is delivered proves the scheduler went through it all.
	before := len(sink.Deliveries())
	if _, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"},
		testlib.Message("a@sluice.test", "b@remote.test", "sentinel", "last")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, d := range waitFor(t, sink, "sentinel", before) {
		for tag := range want {
			if strings.Contains(string(d.Data), "Subject: "+tag+"\r\n") {
				seen[tag]++
			}
		}
	}
	for tag := range want {
		if seen[tag] != 1 {
			t.Errorf("acknowledged %s delivered %d times", tag, seen[tag])
		}
	}
	t.Logf("%d acknowledged before the kill, all delivered exactly once", len(want))
}

// waitFor waits for a delivery whose subject is tag and returns all so far;
// from is how many deliveries the sink had before tag was sent.
func waitFor(t *testing.T, sink *testlib.Sink, tag string, from int) []testlib.Delivery {
	t.Helper()
	for n := from + 1; ; n++ {
		got := sink.WaitN(t, n, 30*time.Second)
		for _, d := range got {
			if strings.Contains(string(d.Data), "Subject: "+tag+"\r\n") {
				return got
			}
		}
	}
}

// TestRestartDoesNotRedeliver: a delivery recorded before a kill -9 is not
// made again after the restart.
func TestRestartDoesNotRedeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, dir, smtpAddr, adminAddr, sink.Addr)
	p := startServe(t, cfg)
	if _, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"},
		testlib.Message("a@sluice.test", "b@remote.test", "once", "x")); err != nil {
		t.Fatal(err)
	}
	sink.WaitN(t, 1, 10*time.Second)
	// Wait until the daemon recorded the delivery: the queue is empty.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := runCLI(t, "queue", "list", "--admin", adminAddr, "--json")
		if strings.Contains(out, `"messages": []`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not recorded: %s", out)
		}
	}
	p.kill()
	startServe(t, cfg)
	before := len(sink.Deliveries())
	if _, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"},
		testlib.Message("a@sluice.test", "b@remote.test", "after", "y")); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, sink, "after", before)
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2 (no redelivery of the first)", len(got))
	}
}
