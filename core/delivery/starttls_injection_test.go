package delivery

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// injectingServer answers STARTTLS with 220 and, in the same write, the
// replies someone on the path appended in the clear (the response
// injection of CVE-2011-0411's class, CVE-2021-38371 in Exim's client),
// then does a real TLS handshake. It takes mail in plaintext and, should a
// handshake succeed, under TLS.
type injectingServer struct {
	addr string
	tls  *tls.Config

	mu    sync.Mutex
	conns int
	mails []bool // one per message taken: whether it came under TLS
}

// injected are refusals that, read as replies under TLS, would fail the
// EHLO and the HELO after it with their text.
const injected = "550 5.7.1 injected in the clear\r\n550 5.7.1 injected in the clear\r\n"

func startInjectingServer(t *testing.T, srvTLS *tls.Config) *injectingServer {
	t.Helper()
	s := &injectingServer{tls: srvTLS}
	s.addr = testlib.AcceptEach(t, "127.0.0.1:0", func(c net.Conn) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		go s.serve(c)
	})
	return s
}

func (s *injectingServer) serve(c net.Conn) {
	defer c.Close()
	underTLS := false
	r := bufio.NewReader(c)
	write := func(text string) { _, _ = c.Write([]byte(text)) }
	write("220 inject.test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		switch {
		case verb == "EHLO" && underTLS:
			write("250-inject.test\r\n250 PIPELINING\r\n")
		case verb == "EHLO":
			write("250-inject.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
		case verb == "STARTTLS" && !underTLS:
			write("220 2.0.0 Ready to start TLS\r\n" + injected)
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r, underTLS = tc, bufio.NewReader(tc), true
		case verb == "MAIL" || verb == "RCPT":
			write("250 2.0.0 OK\r\n")
		case verb == "DATA":
			write("354 go ahead\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.mails = append(s.mails, underTLS)
			s.mu.Unlock()
			write("250 2.0.0 queued\r\n")
		case verb == "QUIT":
			write("221 2.0.0 bye\r\n")
			return
		default:
			write("502 5.5.1 not here\r\n")
		}
	}
}

func (s *injectingServer) taken() (conns int, mails []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]bool(nil), s.mails...)
}

// What a server (or anyone on the path) sends in the clear after its 220
// to STARTTLS is never read as a reply under TLS: the client reads the
// 220 a byte at a time and hands the connection to TLS as it stands, so
// the plaintext breaks the handshake. Opportunistic TLS then goes on in
// plaintext on a new connection, as after any failed handshake; a route
// requiring TLS defers. No recipient ever holds the injected reply.
func TestSTARTTLSIgnoresRepliesInjectedAfter220(t *testing.T) {
	ca := testlib.NewCA(t)
	opportunistic := startInjectingServer(t, ca.ServerConfig("127.0.0.1"))
	required := startInjectingServer(t, ca.ServerConfig("127.0.0.1"))
	h := newHarness(t)
	h.start()
	id := h.enqueue(withRoutes("s@origin.test",
		"may@dest.test", "smtp:"+opportunistic.addr,
		"must@dest.test", "smtp:"+required.addr+"?tls=required"))
	rec := h.recorded(id)
	for _, r := range rec.Rcpts {
		if strings.Contains(r.LastReply, "injected") {
			t.Errorf("%s holds the injected reply: %q", r.Addr, r.LastReply)
		}
	}
	if r := rcpt(rec, "may@dest.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("opportunistic: %+v, want delivered", r)
	}
	if n, mails := opportunistic.taken(); n != 2 || len(mails) != 1 || mails[0] {
		t.Errorf("opportunistic: %d connections, messages (under TLS?) %v; want the failed handshake, then one in plaintext", n, mails)
	}
	if r := rcpt(rec, "must@dest.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "STARTTLS") {
		t.Errorf("tls=required: %+v, want deferred for the failed STARTTLS", r)
	}
	if n, mails := required.taken(); n != 1 || len(mails) != 0 {
		t.Errorf("tls=required: %d connections, %d messages; want one connection and nothing sent", n, len(mails))
	}
}
