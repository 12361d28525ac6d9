package daemon

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// silentMX accepts connections on addr and never greets, until the test
// ends: a destination whose attempt hangs. Each accepted connection is
// announced on the returned channel.
func silentMX(t *testing.T, addr string) <-chan struct{} {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	// Registered after the daemon's own cleanup, so run before it: the
	// hanging attempt ends (its greeting fails) before the daemon stops.
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return accepted
}

// A recipient a destination has accepted is recorded as delivered
// before the attempt goes on to the message's next destination. If the
// record waited for the whole attempt, a kill -9 while a later
// destination is slow (connect and greeting timeouts, several MX hosts:
// minutes) would send the first destination the message again after the
// restart, although its 250 came long before the crash: a duplicate
// outside the window Postfix also has (its queue manager marks each
// recipient done as soon as that destination's delivery agent reports).
//
// The state read back from the queue here is what a kill -9 at this
// moment would leave: every queue write is a synced commit.
func TestCrashRecordsEachDestinationBeforeTheNext(t *testing.T) {
	port := freePort(t)
	sinkA := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	dns := testlib.NewDNS(t,
		"a.test. 60 IN MX 10 mx.a.test.",
		"mx.a.test. 60 IN A 127.0.0.2",
		"b.test. 60 IN MX 10 mx.b.test.",
		"mx.b.test. 60 IN A 127.0.0.3",
	)
	d := startDaemon(t, fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\ncommand_timeout = \"15s\"\n", dns.Addr, port))
	hung := silentMX(t, fmt.Sprintf("127.0.0.3:%d", port))

	msg := testlib.Message("alice@sluice.test", "bob@a.test", "two destinations", "Hello")
	reply, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test",
		[]string{"bob@a.test", "dave@b.test"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(reply, "queued as ")
	if i < 0 {
		t.Fatalf("reply %q", reply)
	}
	id := strings.Fields(reply[i+len("queued as "):])[0]

	sinkA.WaitN(t, 1, 10*time.Second)
	select {
	case <-hung:
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt never reached b.test")
	}
	// a.test answered 250 and the attempt now waits on b.test.
	m := waitMessage(t, d, id, "bob@a.test recorded as delivered while b.test's attempt still runs", func(m *envelope.Message) bool {
		for _, r := range m.Rcpts {
			if r.Addr == "bob@a.test" {
				return r.Status == envelope.RcptDelivered
			}
		}
		return false
	})
	for _, r := range m.Rcpts {
		if r.Addr == "dave@b.test" && r.Status != envelope.RcptPending {
			t.Fatalf("dave@b.test is %s; its attempt has not ended", r.Status)
		}
	}
}
