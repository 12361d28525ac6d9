package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func newClientNames(t *testing.T, server string, timeout time.Duration) (*clientNames, *bytes.Buffer) {
	t.Helper()
	res, err := dnsresolve.New([]string{server}, timeout)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	n := &clientNames{log: slog.New(slog.NewTextHandler(&logs, nil))}
	n.set(res, timeout)
	return n, &logs
}

// TestClientNamesAsksDNSButNotForLoopback: a client's name comes from the
// running [dns]; loopback clients are named without a query.
func TestClientNamesAsksDNSButNotForLoopback(t *testing.T) {
	z := testlib.NewDNS(t,
		"10.2.0.192.in-addr.arpa. PTR mail.example.org.",
		"mail.example.org. A 192.0.2.10",
		"1.0.0.127.in-addr.arpa. PTR wrong.example.org.",
		"wrong.example.org. A 127.0.0.1",
	)
	n, _ := newClientNames(t, z.Addr, 2*time.Second)
	for ip, want := range map[string]string{
		"192.0.2.10": "mail.example.org",
		"192.0.2.11": "",
		"127.0.0.1":  "localhost",
		"::1":        "localhost",
		"127.0.0.2":  "",
	} {
		if got := n.lookup(context.Background(), netip.MustParseAddr(ip)); got != want {
			t.Errorf("lookup(%s) = %q, want %q", ip, got, want)
		}
	}
}

// TestClientNamesGivesUp: a nameserver that never answers costs a client
// at most twice the [dns] timeout before its greeting, and the failure is
// logged.
func TestClientNamesGivesUp(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	n, logs := newClientNames(t, pc.LocalAddr().String(), 50*time.Millisecond)
	began := time.Now()
	if got := n.lookup(context.Background(), netip.MustParseAddr("192.0.2.10")); got != "" {
		t.Fatalf("lookup = %q, want unknown", got)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("lookup took %v", took)
	}
	if !strings.Contains(logs.String(), "client name unknown: the DNS look-up failed") {
		t.Fatalf("nothing logged:\n%s", logs)
	}
}
