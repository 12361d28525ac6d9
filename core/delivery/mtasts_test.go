package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// stsServer is a loopback HTTPS server publishing MTA-STS policies, with
// a certificate for mta-sts.dest.test from ca; the client it returns
// reaches it for any host name.
type stsServer struct {
	mu      sync.Mutex
	policy  string
	status  int // answered instead of the policy when set
	fetches int
}

func startSTS(t *testing.T, h *harness, ca *testlib.CA, policy string) *stsServer {
	t.Helper()
	s := &stsServer{policy: policy}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Host != "mta-sts.dest.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		s.fetches++
		if s.status != 0 {
			http.Error(w, "unavailable", s.status)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s.policy))
	}))
	srv.TLS = ca.ServerConfig("mta-sts.dest.test")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	var d net.Dialer
	h.opt.Routing.MTASTS = true
	h.opt.Routing.RootCAs = ca.Pool()
	h.opt.Routing.STSClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr) // loopback only
		},
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
	}}
	return s
}

// fail makes the server answer status instead of the policy.
func (s *stsServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *stsServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

const (
	stsEnforce = "version: STSv1\r\nmode: enforce\r\nmx: mx.dest.test\r\nmax_age: 86400\r\n"
	stsTesting = "version: STSv1\nmode: testing\nmx: *.dest.test\nmax_age: 86400\n"
)

var stsZone = []string{
	"dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1",
	`_mta-sts.dest.test. TXT "v=STSv1; id=20260301T1;"`,
}

func TestMTASTSEnforceWithWrongCertificateDefers(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	logs := recordLog(h)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "certificate") {
		t.Fatalf("%+v, want deferred for the certificate", r)
	}
	if n, c := len(s.messages()), s.connections(); n != 0 || c != 1 {
		t.Fatalf("%d messages over %d connections: enforce mode must not fall back to plaintext", n, c)
	}
	if l := logs.String(); !strings.Contains(l, "MTA-STS policy fetched") || !strings.Contains(l, "mode=enforce") {
		t.Errorf("the policy is not in the log:\n%s", l)
	}
}

func TestMTASTSEnforceWithValidCertificateDelivers(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	sts := startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); !got.tls {
		t.Fatal("delivered without TLS under an enforce policy")
	}
	// The same policy id: the cached policy serves the next message.
	h.enqueue(msg("s@origin.test", "r2@dest.test"))
	waitMsg(t, s)
	if n := sts.count(); n != 1 {
		t.Errorf("policy fetched %d times, want once (cached by id)", n)
	}
}

func TestMTASTSEnforceSkipsMXNotInPolicy(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil,
		"dest.test. MX 10 rogue.evil.test.", "rogue.evil.test. A 127.0.0.1",
		`_mta-sts.dest.test. TXT "v=STSv1; id=1"`)
	startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("rogue.evil.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.0 ") {
		t.Fatalf("%+v, want deferred: no MX allowed by the policy", r)
	}
	if c := s.connections(); c != 0 {
		t.Fatalf("%d connections to an MX outside the policy", c)
	}
}

func TestMTASTSFetchFailureMeansNoPolicy(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, "version: STSv1\nmode: enforce\n") // no mx, no max_age: invalid
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); !got.tls {
		t.Fatal("want opportunistic TLS without a valid policy")
	}
}

func TestSTSPolicyParsingAndMatching(t *testing.T) {
	p, err := parseSTSPolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmx: *.example.net\r\nmax_age: 604800\r\nextension: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.mode != "enforce" || p.maxAgeSeconds != 604800 {
		t.Fatalf("%+v", p)
	}
	for host, want := range map[string]bool{
		"mail.example.org": true, "MAIL.example.org.": true, "x.mail.example.org": false,
		"mx1.example.net": true, "example.net": false, "a.b.example.net": false,
	} {
		if got := p.matches(host); got != want {
			t.Errorf("matches(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{
		"mode: enforce\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a\n",
	} {
		if _, err := parseSTSPolicy([]byte(bad)); err == nil {
			t.Errorf("parseSTSPolicy(%q) accepted", bad)
		}
	}
	for txt, want := range map[string]string{
		"v=STSv1; id=20160831085700Z;": "20160831085700Z",
		"v=STSv1;id=abc":               "abc",
		"v=STSv2; id=abc":              "",
		"v=STSv1; id=not-alnum":        "",
	} {
		if id, _ := parseSTSRecord(txt); id != want {
			t.Errorf("parseSTSRecord(%q) = %q, want %q", txt, id, want)
		}
	}
}

func TestSTSCacheExpires(t *testing.T) {
	c := newSTSCache()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c.put("d.test", &stsPolicy{id: "1", expires: now.Add(time.Hour)}, now)
	if c.get("d.test", now.Add(59*time.Minute)) == nil {
		t.Fatal("policy gone before max_age")
	}
	if c.get("d.test", now.Add(time.Hour)) != nil {
		t.Fatal("policy kept past max_age")
	}
}

// The cache is bounded: every domain mail went to (reports included, to
// senders outsiders choose) kept its policy for up to a year. Expired
// policies go first, then those expiring soonest; the bytes of mx
// patterns are bounded too.
func TestSTSCacheBounded(t *testing.T) {
	c := newSTSCache()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c.put("old.test", &stsPolicy{id: "1", expires: now.Add(time.Minute)}, now)
	c.put("keep.test", &stsPolicy{id: "1", expires: now.Add(365 * 24 * time.Hour)}, now)
	later := now.Add(time.Hour)
	for i := range stsCacheMax + 100 {
		c.put(fmt.Sprintf("d%d.test", i), &stsPolicy{id: "1", mx: []string{"mx.example"}, expires: later.Add(time.Duration(i) * time.Second)}, later)
	}
	if len(c.m) > stsCacheMax {
		t.Errorf("%d policies cached, want at most %d", len(c.m), stsCacheMax)
	}
	if c.m["old.test"] != nil || c.get("keep.test", later) == nil || c.get(fmt.Sprintf("d%d.test", stsCacheMax+99), later) == nil {
		t.Error("evicted the wrong policies: want the expired one and those expiring soonest gone")
	}
	big := make([]string, 1000)
	for i := range big {
		big[i] = strings.Repeat("m", 60) + ".example"
	}
	for i := range 400 { // 400 policies of 68 KB
		c.put(fmt.Sprintf("big%d.test", i), &stsPolicy{id: "1", mx: big, expires: later.Add(400 * 24 * time.Hour)}, later)
	}
	if c.bytes > stsCacheBytes {
		t.Errorf("%d bytes of mx patterns cached, want at most %d", c.bytes, stsCacheBytes)
	}
	n := 0
	for _, p := range c.m {
		n += p.size()
	}
	if n != c.bytes {
		t.Errorf("bytes counted %d, held %d", c.bytes, n)
	}
}
