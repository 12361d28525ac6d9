package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// The default HTTPS clients of MTA-STS and TLS reports resolve through
// [dns] (the agent's resolver), never the system's: every name here is
// under .test, which no real resolver answers either.

// httpsServer is a loopback HTTPS server with a certificate for name from
// ca; it answers each request with the body and records the host names
// (SNI) and Host fields it was asked for.
type httpsServer struct {
	*httptest.Server
	mu    sync.Mutex
	asked []string // "SNI Host path"
}

func startHTTPS(t *testing.T, ca *testlib.CA, name, contentType, body string) *httpsServer {
	t.Helper()
	s := &httpsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.TLS.ServerName+" "+r.Host+" "+r.URL.Path)
		s.mu.Unlock()
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}))
	s.TLS = ca.ServerConfig(name)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *httpsServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

func testResolver(t *testing.T, rrs ...string) *dnsresolve.Resolver {
	t.Helper()
	d := testlib.NewDNS(t, rrs...)
	res, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// stsAgent is an agent resolving through res, trusting ca, whose default
// MTA-STS client reaches srv when it dials 127.0.0.1:443 (the policy URL
// has no port); the addresses it dialled are recorded in dialled.
func stsAgent(t *testing.T, res *dnsresolve.Resolver, ca *testlib.CA, srv *httpsServer, dialled *[]string) *Agent {
	h := newHarness(t)
	h.opt.Resolver = res
	h.opt.Routing.MTASTS = true
	h.opt.Routing.RootCAs = ca.Pool()
	var mu sync.Mutex
	h.opt.Routing.httpsDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		*dialled = append(*dialled, addr)
		mu.Unlock()
		if addr != "127.0.0.1:443" {
			return nil, fmt.Errorf("dial %s: connection refused (test)", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return New(h.q, h.opt)
}

// TestSTSFetchResolvesThroughDNS: the policy host's addresses come from
// the [dns] server, tried in its order (the first refuses), and TLS
// still checks the certificate for the policy host's name.
func TestSTSFetchResolvesThroughDNS(t *testing.T) {
	ca := testlib.NewCA(t)
	srv := startHTTPS(t, ca, "mta-sts.example.test", "text/plain", stsEnforce)
	res := testResolver(t, "mta-sts.example.test. A 127.0.0.2", "mta-sts.example.test. A 127.0.0.1")
	var dialled []string
	a := stsAgent(t, res, ca, srv, &dialled)
	p, err := a.fetchSTS(context.Background(), "example.test")
	if err != nil {
		t.Fatalf("fetch: %v (dialled %q)", err, dialled)
	}
	if p.mode != "enforce" || !slices.Equal(p.mx, []string{"mx.dest.test"}) {
		t.Errorf("policy %+v", p.stsPolicy)
	}
	if want := []string{"127.0.0.2:443", "127.0.0.1:443"}; !slices.Equal(dialled, want) {
		t.Errorf("dialled %q, want %q", dialled, want)
	}
	if got, want := srv.requests(), []string{"mta-sts.example.test mta-sts.example.test /.well-known/mta-sts.txt"}; !slices.Equal(got, want) {
		t.Errorf("server asked %q, want %q", got, want)
	}
}

// TestTLSRPTPostResolvesThroughDNS: an https: rua's host is resolved by
// the reports' resolver, and the report verified for its name.
func TestTLSRPTPostResolvesThroughDNS(t *testing.T) {
	ca := testlib.NewCA(t)
	srv := startHTTPS(t, ca, "rua.example.test", "text/plain", "")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := testResolver(t, "rua.example.test. A 127.0.0.1")
	r := NewTLSReports(TLSReportOptions{Resolver: res, rootCAs: ca.Pool(), Logger: newHarness(t).opt.Logger})
	uri := "https://rua.example.test:" + port + "/tlsrpt"
	if err := r.postOnce(context.Background(), uri, gzipped([]byte("{}"))); err != nil {
		t.Fatalf("post: %v", err)
	}
	if got, want := srv.requests(), []string{"rua.example.test rua.example.test:" + port + " /tlsrpt"}; !slices.Equal(got, want) {
		t.Errorf("server asked %q, want %q", got, want)
	}
}

// TestHTTPSUnknownNameIsDNSError: a host the [dns] server does not know
// fails with its NXDOMAIN, and nothing is dialled.
func TestHTTPSUnknownNameIsDNSError(t *testing.T) {
	ca := testlib.NewCA(t)
	srv := startHTTPS(t, ca, "mta-sts.example.test", "text/plain", stsEnforce)
	res := testResolver(t, "mta-sts.example.test. A 127.0.0.1")
	notFound := func(what string, err error, name string) {
		t.Helper()
		var de *dnsresolve.Error
		if !errors.As(err, &de) || !de.NotFound || de.Name != name {
			t.Errorf("%s: err %v (%T), want NXDOMAIN for %s from [dns]", what, err, errors.Unwrap(err), name)
		}
	}

	var dialled []string
	a := stsAgent(t, res, ca, srv, &dialled)
	_, err := a.fetchSTS(context.Background(), "unknown.test")
	notFound("MTA-STS", err, "mta-sts.unknown.test")
	if len(dialled) != 0 {
		t.Errorf("dialled %q", dialled)
	}

	r := NewTLSReports(TLSReportOptions{Resolver: res, rootCAs: ca.Pool(), Logger: newHarness(t).opt.Logger})
	err = r.postOnce(context.Background(), "https://rua.unknown.test/tlsrpt", gzipped([]byte("{}")))
	notFound("TLS-RPT", err, "rua.unknown.test")
	if got := srv.requests(); len(got) != 0 {
		t.Errorf("server asked %q", got)
	}
	if err != nil && !strings.Contains(err.Error(), "rua.unknown.test") {
		t.Errorf("error %q does not name the host", err)
	}

	// Without a resolver a name is not handed to the system's.
	if _, err := (httpsDialer{}).DialContext(context.Background(), "tcp", "mta-sts.example.test:443"); err == nil || !strings.Contains(err.Error(), "no resolver") {
		t.Errorf("no resolver: err %v", err)
	}
}
