package delivery

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// probeServer is a real go-smtp server recording each RCPT it is given
// and whether it came under TLS.
type probeServer struct {
	addr string
	mu   sync.Mutex
	seen []probeRcpt
}

type probeRcpt struct {
	addr string
	tls  bool
}

func startProbeServer(t *testing.T, cfg *tls.Config) *probeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &probeServer{addr: ln.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &probeSession{srv: p, conn: c}, nil
	}))
	srv.Domain = "probe.test"
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	srv.TLSConfig = cfg
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *probeServer) rcpts() []probeRcpt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probeRcpt(nil), p.seen...)
}

type probeSession struct {
	srv  *probeServer
	conn *smtp.Conn
}

func (s *probeSession) Reset()                               {}
func (s *probeSession) Logout() error                        { return nil }
func (s *probeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *probeSession) Data(io.Reader) error                 { return errors.New("not in a probe") }
func (s *probeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	_, tls := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.seen = append(s.srv.seen, probeRcpt{to, tls})
	return nil
}

// A probe of an smtp: route connects as delivery would, TLS policy
// included: the address goes under TLS when the server offers STARTTLS,
// and never to a server that policy would not send the mail to (no
// STARTTLS under tls=required or authfile, a certificate for another
// name under tls=verify); those probes fail without a RCPT, as errors
// (the route plugin then tempfails), not refusals.
func TestProbeHonoursTLSPolicy(t *testing.T) {
	ca := testlib.NewCA(t)
	caFile := ca.CertFile()
	authFile := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(authFile, []byte("user:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const rcpt = "alice@mail.test"
	probe := func(route string) error {
		return Probe(t.Context(), route, "mta.test", rcpt, waitLimit)
	}
	var pe *ProbeError
	refusedUnasked := func(name string, s *probeServer, err error) {
		t.Helper()
		if err == nil || errors.As(err, &pe) {
			t.Errorf("%s: %v, want an error that is not a refusal", name, err)
		}
		if got := s.rcpts(); len(got) != 0 {
			t.Errorf("%s: the server saw %v", name, got)
		}
	}

	plain := startProbeServer(t, nil)
	for _, q := range []string{"?tls=required", "?tls=verify&ca=" + caFile, "?authfile=" + authFile} {
		err := probe("smtp:" + plain.addr + q)
		refusedUnasked("no STARTTLS, "+q, plain, err)
		if !errors.Is(err, errNoSTARTTLS) {
			t.Errorf("no STARTTLS, %s: %v, want %v", q, err, errNoSTARTTLS)
		}
	}
	if err := probe("smtp:" + plain.addr); err != nil {
		t.Errorf("no STARTTLS, opportunistic: %v", err)
	}
	if got := plain.rcpts(); len(got) != 1 || got[0].tls {
		t.Errorf("no STARTTLS, opportunistic: the server saw %v, want the RCPT in plaintext", got)
	}

	offered := startProbeServer(t, ca.ServerConfig("127.0.0.1"))
	if err := probe("smtp:" + offered.addr); err != nil {
		t.Errorf("STARTTLS offered, opportunistic: %v", err)
	}
	if got := offered.rcpts(); len(got) != 1 || got[0] != (probeRcpt{rcpt, true}) {
		t.Errorf("STARTTLS offered, opportunistic: the server saw %v, want the RCPT under TLS", got)
	}

	wrong := startProbeServer(t, ca.ServerConfig("other.test"))
	err := probe("smtp:" + wrong.addr + "?tls=verify&ca=" + caFile)
	refusedUnasked("tls=verify, certificate for another name", wrong, err)
	if err == nil || !strings.Contains(err.Error(), "failed to verify certificate") {
		t.Errorf("tls=verify, certificate for another name: %v, want the name check's reason", err)
	}

	right := startProbeServer(t, ca.ServerConfig("127.0.0.1"))
	if err := probe("smtp:" + right.addr + "?tls=verify&ca=" + caFile); err != nil {
		t.Errorf("tls=verify, right name: %v", err)
	}
	if got := right.rcpts(); len(got) != 1 || !got[0].tls {
		t.Errorf("tls=verify, right name: the server saw %v, want the RCPT under TLS", got)
	}

	// Without ca=, verify trusts the system roots plus [delivery]
	// ca_file, which the daemon hands over in EnvCAFile.
	private := startProbeServer(t, ca.ServerConfig("127.0.0.1"))
	refusedUnasked("tls=verify without ca=, no ca_file", private, probe("smtp:"+private.addr+"?tls=verify"))
	t.Setenv(EnvCAFile, caFile)
	if err := probe("smtp:" + private.addr + "?tls=verify"); err != nil {
		t.Errorf("tls=verify without ca=, ca_file: %v", err)
	}

	// A probe looks up no TLSA records: it refuses a DANE route
	// rather than ask a server DANE might not authenticate.
	for _, q := range []string{"?tls=dane", "?tls=dane-only"} {
		if err := probe("smtp:" + offered.addr + q); !errors.Is(err, errProbeDANE) {
			t.Errorf("%s: %v, want %v", q, err, errProbeDANE)
		}
	}
	if got := offered.rcpts(); len(got) != 1 {
		t.Errorf("DANE: the server saw %v, want only the first probe's RCPT", got)
	}
}
