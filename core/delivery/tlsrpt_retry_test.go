package delivery

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// txtServer is a DNS server on 127.0.0.1 whose answer for
// _smtp._tls.dest.test TXT the test sets: SERVFAIL, NXDOMAIN or the
// record. It counts those queries; other names are NXDOMAIN.
type txtServer struct {
	record string
	rcode  atomic.Int32
	asked  atomic.Int32
}

func startTXTServer(t *testing.T, record string, rcode int) (*txtServer, *dnsresolve.Resolver) {
	t.Helper()
	s := &txtServer{record: record}
	s.rcode.Store(int32(rcode))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: s}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	res, err := dnsresolve.New([]string{pc.LocalAddr().String()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s, res
}

func (s *txtServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	m := new(dns.Msg)
	m.SetReply(req)
	m.Rcode = dns.RcodeNameError
	if q.Name == "_smtp._tls.dest.test." && q.Qtype == dns.TypeTXT {
		s.asked.Add(1)
		m.Rcode = int(s.rcode.Load())
		if m.Rcode == dns.RcodeSuccess {
			m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{s.record}}}
		}
	}
	_ = w.WriteMsg(m)
}

// logEvents is a slog handler sending each record's message on a
// channel, for a test to wait on what Run did.
type logEvents chan string

func (l logEvents) Enabled(context.Context, slog.Level) bool { return true }
func (l logEvents) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logEvents) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logEvents) WithGroup(string) slog.Handler      { return l }

// waitLog waits for the message want, skipping others.
func waitLog(t *testing.T, l logEvents, want string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case m := <-l:
			if m == want {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q", want)
		}
	}
}

// TestTLSRPTLookupRetried: a _smtp._tls lookup answered SERVFAIL does not
// drop the report (RFC 8460 §5.5): Run asks again once the first retry
// is due, and the record it then gets has the report posted.
func TestTLSRPTLookupRetried(t *testing.T) {
	h := newHarness(t)
	posted := make(chan struct{}, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posted <- struct{}{} }))
	t.Cleanup(srv.Close)
	dnsSrv, res := startTXTServer(t, "v=TLSRPTv1; rua="+srv.URL+"/tlsrpt", dns.RcodeServerFailure)
	h.opt.Resolver = res
	r := tlsReportsFor(h, "")
	r.opt.HTTPClient = srv.Client()
	logs := make(logEvents, 100)
	r.opt.Logger = slog.New(logs)
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.clock.Advance(12*time.Hour + time.Minute) // 2026-03-02 00:01 UTC
	r.Kick()
	waitLog(t, logs, "tlsrpt: TXT lookup failed; will retry")
	if n := dnsSrv.asked.Load(); n != 1 {
		t.Fatalf("asked %d times, want once", n)
	}
	if at, ok := r.nextRetry(); !ok || !at.Equal(h.clock.Now().Add(tlsrptLookupRetry[0])) {
		t.Fatalf("next retry %v %v, want in %v", at, ok, tlsrptLookupRetry[0])
	}

	dnsSrv.rcode.Store(dns.RcodeSuccess)
	h.clock.Advance(tlsrptLookupRetry[0])
	r.Kick()
	select {
	case <-posted:
	case <-time.After(waitLimit):
		t.Fatal("no report posted after the retry")
	}
	waitLog(t, logs, "tlsrpt: report posted")
	if n := dnsSrv.asked.Load(); n != 2 {
		t.Errorf("asked %d times, want twice", n)
	}
	cancel()
	<-done
	if len(r.days) != 0 {
		t.Errorf("days kept after the report went out: %v", r.days)
	}
}

// TestTLSRPTLookupRetriesBounded: a lookup that keeps failing is asked
// again only once each retry is due, len(tlsrptLookupRetry) times, the
// schedule kept across a restart; then the report is dropped.
func TestTLSRPTLookupRetriesBounded(t *testing.T) {
	h := newHarness(t)
	dnsSrv, res := startTXTServer(t, "v=TLSRPTv1; rua=mailto:tlsrpt@dest.test", dns.RcodeServerFailure)
	h.opt.Resolver = res
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	r := tlsReportsFor(h, path)
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)
	const day = "2026-03-01"
	h.clock.Advance(12 * time.Hour)
	ctx := context.Background()
	for i, wait := range tlsrptLookupRetry {
		r.sendDay(ctx, day)
		if n := int(dnsSrv.asked.Load()); n != i+1 {
			t.Fatalf("after %d sends asked %d times", i+1, n)
		}
		d := r.days[day]["dest.test"]
		if d == nil || d.LookupFailures != i+1 || !d.RetryAt.Equal(h.clock.Now().Add(wait)) {
			t.Fatalf("after failure %d: %+v, want a retry in %v", i+1, d, wait)
		}
		// Not due yet: not asked.
		h.clock.Advance(wait - time.Second)
		r.sendDay(ctx, day)
		if n := int(dnsSrv.asked.Load()); n != i+1 {
			t.Fatalf("asked again %v early", time.Second)
		}
		h.clock.Advance(time.Second)
		// A restart keeps the count and the time.
		r.save()
		r = NewTLSReports(TLSReportOptions{Identity: r.opt.Identity, Path: path, Resolver: res, Clock: h.clock.Now, Logger: r.opt.Logger})
	}
	r.sendDay(ctx, day)
	if n := int(dnsSrv.asked.Load()); n != len(tlsrptLookupRetry)+1 {
		t.Errorf("asked %d times in all, want %d", n, len(tlsrptLookupRetry)+1)
	}
	if len(r.days) != 0 {
		t.Errorf("the report is still kept after its retries: %v", r.days)
	}
}

// TestTLSRPTLookupNXDOMAINNotRetried: a domain without a _smtp._tls
// record (NXDOMAIN) wants no report: its counts are dropped at once.
func TestTLSRPTLookupNXDOMAINNotRetried(t *testing.T) {
	h := newHarness(t)
	dnsSrv, res := startTXTServer(t, "", dns.RcodeNameError)
	h.opt.Resolver = res
	r := tlsReportsFor(h, "")
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)
	h.clock.Advance(12 * time.Hour)
	r.sendDay(context.Background(), "2026-03-01")
	if n := dnsSrv.asked.Load(); n != 1 || len(r.days) != 0 {
		t.Errorf("asked %d times, days %v: want one lookup and the counts dropped", n, r.days)
	}
	if _, ok := r.nextRetry(); ok {
		t.Error("a retry is scheduled")
	}
}

// TestTLSRPTLookupRetryAfterRestart: a restart draws the send spread
// afresh; a day whose lookup retry was scheduled before it is retried
// when that retry is due, not once the new, later spread has passed.
func TestTLSRPTLookupRetryAfterRestart(t *testing.T) {
	h := newHarness(t)
	posted := make(chan struct{}, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posted <- struct{}{} }))
	t.Cleanup(srv.Close)
	dnsSrv, res := startTXTServer(t, "v=TLSRPTv1; rua="+srv.URL+"/tlsrpt", dns.RcodeServerFailure)
	h.opt.Resolver = res
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	r := tlsReportsFor(h, path)
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)
	h.clock.Advance(12*time.Hour + time.Minute) // 2026-03-02 00:01 UTC, spread 0
	r.sendDay(context.Background(), "2026-03-01")
	at, ok := r.nextRetry()
	if !ok {
		t.Fatal("no retry scheduled")
	}
	r.save()

	// Restarted with a spread of nearly four hours, past the retry.
	r = NewTLSReports(TLSReportOptions{Identity: r.opt.Identity, Path: path, Resolver: res, Clock: h.clock.Now,
		Rand: func() float64 { return 0.99 }, Logger: r.opt.Logger, HTTPClient: srv.Client()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	dnsSrv.rcode.Store(dns.RcodeSuccess)
	h.clock.Advance(at.Sub(h.clock.Now()))
	r.Kick()
	select {
	case <-posted:
	case <-time.After(waitLimit):
		t.Fatal("no report posted when the retry was due")
	}
}

// TestTLSRPTLookupFailuresNegative: a negative lookup_failures in the
// file (edited by hand) is read as none, not a crash at the next
// failed lookup.
func TestTLSRPTLookupFailuresNegative(t *testing.T) {
	h := newHarness(t)
	_, res := startTXTServer(t, "", dns.RcodeServerFailure)
	h.opt.Resolver = res
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	r := tlsReportsFor(h, path)
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)
	r.days["2026-03-01"]["dest.test"].LookupFailures = -1
	r.dirty = true
	r.save()
	r = tlsReportsFor(h, path)
	h.clock.Advance(12 * time.Hour)
	r.sendDay(context.Background(), "2026-03-01")
	if d := r.days["2026-03-01"]["dest.test"]; d == nil || d.LookupFailures != 1 {
		t.Errorf("after a failed lookup: %+v, want one failure counted", d)
	}
}
