package delivery

import (
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// clientIP is the address the sink's last connection came from.
func clientIP(t *testing.T, s *sink) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.live) == 0 {
		t.Fatal("sink saw no connection")
	}
	host, _, _ := net.SplitHostPort(s.live[len(s.live)-1].RemoteAddr().String())
	return host
}

// [delivery] source_address binds the local address of an SMTP
// connection of its family (Linux routes all of 127/8 to lo, so
// 127.0.0.2 is this host's without setup); a route's source= replaces
// it; an IPv4 destination with only source_address6 set gets the
// kernel's choice, as Postfix's smtp_bind_address6 binds IPv6
// connections only.
func TestSourceAddressBindsSMTPConnections(t *testing.T) {
	for _, tc := range []struct {
		name, source4, source6, route, want string
	}{
		{"kernel's choice", "", "", "", "127.0.0.1"},
		{"source_address", "127.0.0.2", "", "", "127.0.0.2"},
		{"IPv6 source only", "", "::1", "", "127.0.0.1"},
		{"route source=", "127.0.0.2", "", "?source=127.0.0.3", "127.0.0.3"},
		{"route IPv6 source= keeps source_address", "127.0.0.2", "", "?source=::1", "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			s := h.sinkAt("127.0.0.1", sinkOptions{})
			h.opt.Config.SourceAddress, h.opt.Config.SourceAddress6 = tc.source4, tc.source6
			h.start()
			id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "smtp:"+s.addr+tc.route))
			waitMsg(t, s)
			if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
				t.Fatalf("%+v", r)
			}
			if got := clientIP(t, s); got != tc.want {
				t.Errorf("sink saw the client %s, want %s", got, tc.want)
			}
		})
	}
}

// The relay and MX delivery bind it too.
func TestSourceAddressBindsRelayConnections(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.opt.Config.SourceAddress = "127.0.0.2"
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v", r)
	}
	if got := clientIP(t, s); got != "127.0.0.2" {
		t.Errorf("relay saw the client %s, want 127.0.0.2", got)
	}
}

// peerListener reports each accepted connection's remote address.
type peerListener struct {
	net.Listener
	peers chan string
}

func (l peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.peers <- host
	}
	return c, err
}

// An LMTP server over TCP sees the kernel's choice of address whatever
// source_address says, as Postfix's smtp_bind_address leaves its LMTP
// client alone.
func TestSourceAddressLeavesLMTPAlone(t *testing.T) {
	for _, source := range []string{"", "127.0.0.2"} {
		t.Run("source="+source, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pl := peerListener{Listener: ln, peers: make(chan string, 10)}
			ls := &lmtpServer{addr: ln.Addr().String(), reply: func(string) error { return nil }, data: make(chan struct{}, 10)}
			srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &lmtpSession{s: ls}, nil }))
			srv.LMTP = true
			srv.Domain = "lmtp.test"
			srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
			go func() { _ = srv.Serve(pl) }()
			t.Cleanup(func() { _ = srv.Close() })

			h := newHarness(t)
			h.opt.Config.SourceAddress = source
			h.start()
			id := h.enqueue(withRoutes("s@origin.test", "u@mail.test", "lmtp:tcp:"+ls.addr))
			if r := rcpt(h.recorded(id), "u@mail.test"); r.Status != envelope.RcptDelivered {
				t.Fatalf("%+v", r)
			}
			if got, want := <-pl.peers, "127.0.0.1"; got != want {
				t.Errorf("LMTP server saw the client %s, want %s", got, want)
			}
		})
	}
}

// foreignAddr is a documentation address (RFC 5737) this host cannot
// bind: a test host may well have one of them on an interface.
func foreignAddr(t *testing.T) string {
	t.Helper()
	for _, a := range []string{"203.0.113.1", "198.51.100.1", "192.0.2.1"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, "0"))
		if err != nil {
			return a
		}
		_ = ln.Close()
	}
	t.Skip("this host can bind every candidate address (ip_nonlocal_bind?)")
	return ""
}

// A source address that is not this host's fails the bind: the
// recipient is deferred with the reason, and keeps waiting (Postfix's
// smtp_bind_address_enforce = yes), rather than failing or leaving from
// another address.
func TestUnusableSourceAddressDefers(t *testing.T) {
	foreign := foreignAddr(t)
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.SourceAddress = foreign
	h.start()
	id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "smtp:"+s.addr))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "4") ||
		!strings.Contains(r.LastReply, "cannot assign requested address") || !strings.Contains(r.LastReply, foreign) {
		t.Errorf("%+v, want pending with a 4xx naming %s and the bind error", r, foreign)
	}
	if n := s.connections(); n != 0 {
		t.Errorf("sink saw %d connections, want none", n)
	}
}

func TestParseRouteSource(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = error
	}{
		{"smtp:relay.test:25?source=192.0.2.10", "smtp:relay.test:25?source=192.0.2.10"},
		{"smtp:relay.test:25?source=2001:db8::10&source=192.0.2.10", "smtp:relay.test:25?source=192.0.2.10&source=2001%3Adb8%3A%3A10"},
		{"smtp:relay.test:25?source=::ffff:192.0.2.10", "smtp:relay.test:25?source=192.0.2.10"},
		{"mx?source=192.0.2.10", "mx?source=192.0.2.10"},
		{"smtp:relay.test:25?source=192.0.2.10&source=192.0.2.11", ""},
		{"smtp:relay.test:25?source=mail.example", ""},
		{"smtp:relay.test:25?source=0.0.0.0", ""},
		{"smtp:relay.test:25?source=", ""},
		{"lmtp:tcp:127.0.0.1:24?source=127.0.0.2", ""},
	} {
		rt, err := ParseRoute(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: parsed as %s, want an error", tc.in, rt)
			}
			continue
		}
		if err != nil || rt.String() != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.in, rt, err, tc.want)
		}
	}
}
