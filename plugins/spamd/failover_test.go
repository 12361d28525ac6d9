package spamd

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/failover"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// fakeClock is the address list's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withAddresses returns the plugin configured with addresses and a
// reject_score of 10, on clock.
func withAddresses(t *testing.T, clock *fakeClock, addrs ...string) *Plugin {
	t.Helper()
	js, err := json.Marshal(map[string]any{"addresses": addrs, "reject_score": 10})
	if err != nil {
		t.Fatal(err)
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "spamassassin", JSON: js}); err != nil {
		t.Fatal(err)
	}
	p.s.addrs.Now = clock.Now
	return p
}

func scanOnce(t *testing.T, p *Plugin) (sdk.Verdict, error) {
	t.Helper()
	m, err := sdktest.ParseMessage([]byte(received))
	if err != nil {
		t.Fatal(err)
	}
	return p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestAddressesFailover: with addresses, a spamd that cannot be
// connected to moves the scan to the next, whose score decides.
func TestAddressesFailover(t *testing.T) {
	second := startFake(t, symbolsReply(true, "11.0", "5.0", "GTUBE"))
	p := withAddresses(t, &fakeClock{t: time.Unix(1e9, 0)}, refusedAddr(t), second.addr)
	if v, err := scanOnce(t, p); err != nil || v.Action != sdk.ActionReject {
		t.Fatalf("Data = %+v, %v; want the second spamd's score refused", v, err)
	}
	if n := len(second.requests()); n != 1 {
		t.Fatalf("second spamd got %d requests, want 1", n)
	}
}

// TestAddressesAnswerEndsIt: the first spamd's answer, a score or an
// error, is the scan's: the next is not asked.
func TestAddressesAnswerEndsIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(net.Conn, request)
		fails  bool
	}{
		{"score", symbolsReply(false, "1.0", "5.0", "BAYES_00"), false},
		{"error status", func(c net.Conn, _ request) { _, _ = io.WriteString(c, "SPAMD/1.0 74 Temporary failure\r\n") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := startFake(t, tc.answer)
			second := startFake(t, symbolsReply(true, "11.0", "5.0", "GTUBE"))
			p := withAddresses(t, &fakeClock{t: time.Unix(1e9, 0)}, first.addr, second.addr)
			if _, err := scanOnce(t, p); (err != nil) != tc.fails {
				t.Fatalf("Data error %v, want one: %v", err, tc.fails)
			}
			if a, b := len(first.requests()), len(second.requests()); a != 1 || b != 0 {
				t.Fatalf("requests: first %d, second %d; want 1, 0", a, b)
			}
		})
	}
}

// TestAddressesAllDead: when no address can be connected to the stage
// fails (on_error decides), naming each address.
func TestAddressesAllDead(t *testing.T) {
	a, b := refusedAddr(t), "unix:"+filepath.Join(t.TempDir(), "none.sock")
	p := withAddresses(t, &fakeClock{t: time.Unix(1e9, 0)}, a, b)
	v, err := scanOnce(t, p)
	if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("Data = %+v, %v; want an error naming %s and %s", v, err, a, b)
	}
}

// TestAddressesDeadPaused: an address that could not be connected to is
// left out while another answers, until failover.Pause has passed: a spamd
// that came back meanwhile is not asked before then, and is after.
func TestAddressesDeadPaused(t *testing.T) {
	firstPath := filepath.Join(t.TempDir(), "spamd.sock")
	second := startFake(t, symbolsReply(false, "1.0", "5.0", "BAYES_00"))
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	p := withAddresses(t, clock, "unix:"+firstPath, second.addr)
	scan := func() {
		t.Helper()
		if v, err := scanOnce(t, p); err != nil || v.Action != sdk.ActionContinue {
			t.Fatalf("Data = %+v, %v; want continue", v, err)
		}
	}
	scan() // first down: the second scans, the first is paused
	first := startFakeOn(t, "unix", firstPath, symbolsReply(false, "1.0", "5.0", "BAYES_00"))
	clock.Add(failover.Pause - time.Second)
	scan()
	if a, b := len(first.requests()), len(second.requests()); a != 0 || b != 2 {
		t.Fatalf("within the pause: requests first %d, second %d; want 0, 2", a, b)
	}
	clock.Add(time.Second)
	scan()
	if a, b := len(first.requests()), len(second.requests()); a != 1 || b != 2 {
		t.Fatalf("after the pause: requests first %d, second %d; want 1, 2", a, b)
	}
}
