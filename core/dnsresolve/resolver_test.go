package dnsresolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"
)

func newResolver(t *testing.T, servers ...string) *Resolver {
	t.Helper()
	r, err := New(servers, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookupMXSortsByPreferenceThenHost(t *testing.T) {
	z := startZone(t,
		"example.org. MX 20 b.example.org.",
		"example.org. MX 10 C.example.org.",
		"example.org. MX 10 a.example.org.",
	)
	got, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := []MX{{"a.example.org", 10}, {"c.example.org", 10}, {"b.example.org", 20}}
	if !slices.Equal(got, want) {
		t.Fatalf("LookupMX = %v, want %v", got, want)
	}
}

func TestLookupMXNXDOMAIN(t *testing.T) {
	z := startZone(t, "example.org. MX 10 mx.example.org.")
	_, err := newResolver(t, z.Addr).LookupMX(context.Background(), "nowhere.example")
	if !IsNotFound(err) || IsTemporary(err) {
		t.Fatalf("err = %v: want not found, not temporary", err)
	}
}

func TestLookupMXNoRecordsIsEmptyNotError(t *testing.T) {
	z := startZone(t, "example.org. A 192.0.2.1")
	got, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("LookupMX = %#v, %v; want empty non-nil slice, nil error", got, err)
	}
}

func TestLookupMXNullMX(t *testing.T) {
	z := startZone(t, "example.org. MX 0 .")
	got, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if !errors.Is(err, ErrNullMX) || got != nil {
		t.Fatalf("LookupMX = %v, %v; want ErrNullMX", got, err)
	}
	if IsNotFound(err) || IsTemporary(err) {
		t.Fatalf("null MX must be neither not-found nor temporary: %v", err)
	}
}

func TestLookupMXDropsRootTargetBesideRealHosts(t *testing.T) {
	z := startZone(t, "example.org. MX 0 .", "example.org. MX 10 mx.example.org.")
	got, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if err != nil || !slices.Equal(got, []MX{{"mx.example.org", 10}}) {
		t.Fatalf("LookupMX = %v, %v", got, err)
	}
}

func TestLookupMXServfailIsTemporary(t *testing.T) {
	z := startZone(t, "example.org. MX 10 mx.example.org.")
	z.failName("example.org")
	_, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if !IsTemporary(err) || IsNotFound(err) {
		t.Fatalf("err = %v: want temporary", err)
	}
}

func TestLookupMXTriesServersInOrder(t *testing.T) {
	bad := startZone(t, "example.org. MX 10 mx.example.org.")
	bad.failName("example.org")
	good := startZone(t, "example.org. MX 10 mx.example.org.")
	// A closed UDP port: the kernel answers with ICMP port unreachable.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()

	got, err := newResolver(t, dead, bad.Addr, good.Addr).LookupMX(context.Background(), "example.org")
	if err != nil || !slices.Equal(got, []MX{{"mx.example.org", 10}}) {
		t.Fatalf("LookupMX = %v, %v", got, err)
	}
	if bad.count("udp", "example.org", "MX") != 1 || good.count("udp", "example.org", "MX") != 1 {
		t.Fatalf("each server should be asked once")
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	z := startZone(t, "example.org. MX 10 mx.example.org.")
	z.truncateName("example.org")
	got, err := newResolver(t, z.Addr).LookupMX(context.Background(), "example.org")
	if err != nil || !slices.Equal(got, []MX{{"mx.example.org", 10}}) {
		t.Fatalf("LookupMX = %v, %v", got, err)
	}
	if z.count("udp", "example.org", "MX") != 1 || z.count("tcp", "example.org", "MX") != 1 {
		t.Fatalf("want one UDP then one TCP query")
	}
}

func TestLookupIPReturnsAThenAAAA(t *testing.T) {
	z := startZone(t,
		"mx.example.org. A 192.0.2.1",
		"mx.example.org. AAAA 2001:db8::1",
		"mx.example.org. A 192.0.2.2",
	)
	got, err := newResolver(t, z.Addr).LookupIP(context.Background(), "mx.example.org")
	want := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("2001:db8::1"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("LookupIP = %v, %v; want %v", got, err, want)
	}
}

func TestLookupIPLiteralSkipsDNS(t *testing.T) {
	r := newResolver(t, "127.0.0.1:1") // nothing listens; must not be asked
	for _, in := range []string{"192.0.2.7", "[2001:db8::7]"} {
		got, err := r.LookupIP(context.Background(), in)
		if err != nil || len(got) != 1 {
			t.Fatalf("LookupIP(%q) = %v, %v", in, got, err)
		}
	}
}

func TestLookupIPOutcomes(t *testing.T) {
	z := startZone(t, "example.org. MX 10 mx.example.org.", "down.example.org. A 192.0.2.9")
	z.failName("down.example.org")
	r := newResolver(t, z.Addr)
	ctx := context.Background()

	if got, err := r.LookupIP(ctx, "example.org"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no address records: got %v, %v; want empty, nil", got, err)
	}
	if _, err := r.LookupIP(ctx, "nowhere.example.org"); !IsNotFound(err) {
		t.Errorf("NXDOMAIN: err = %v", err)
	}
	if _, err := r.LookupIP(ctx, "down.example.org"); !IsTemporary(err) {
		t.Errorf("SERVFAIL: err = %v", err)
	}
}

func TestNewReadsResolvConf(t *testing.T) {
	if _, err := os.Stat(resolvConf); err != nil {
		t.Skip("no", resolvConf)
	}
	r, err := New(nil, 0)
	if err != nil {
		t.Skipf("resolv.conf without nameservers: %v", err)
	}
	if len(r.servers) == 0 {
		t.Fatal("no servers read")
	}
	for _, s := range r.servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			t.Fatalf("server %q is not host:port", s)
		}
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	if _, err := New([]string{"127.0.0.1"}, 0); err == nil {
		t.Fatal("want an error for a server without port")
	}
}
