package smtpd

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

// withProxy makes the "mx" listener trust proxies from nets, with
// proxy_timeout timeout (0: the default, 5s).
func withProxy(timeout time.Duration, nets ...string) func(*Options) {
	return func(o *Options) {
		lc := &o.Config.Listeners[0]
		for _, n := range nets {
			lc.ProxyProtocol = append(lc.ProxyProtocol, config.Prefix{Prefix: netip.MustParsePrefix(n)})
		}
		if timeout > 0 {
			lc.ProxyTimeout.Duration = timeout
		}
	}
}

// dialFrom connects to addr from the loopback address local, as a proxy
// there (127.0.0.1) or a client elsewhere (127.0.0.2) would.
func dialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// proxied opens a connection as the proxy at 127.0.0.1 and writes
// header in the pieces given (a header split across TCP segments), then
// reads the greeting.
func (h *harness) proxied(pieces ...[]byte) *dialog {
	h.t.Helper()
	d := newDialog(h.t, dialFrom(h.t, "127.0.0.1", h.addr("mx")))
	for _, p := range pieces {
		d.raw(string(p))
	}
	d.expect("220 mx.test ESMTP")
	return d
}

// sendOne sends a message to b@example.org and returns the queued body.
func (d *dialog) sendOne(h *harness) string {
	d.t.Helper()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	id := d.queued()
	body, err := h.q.Body(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(body)
}

// A v1 header and a v2 one (its TLVs skipped), each split across writes:
// the client they name, not the proxy, is what the connect hook,
// relay_networks (192.0.2.0/24 here) and Received see; the address it
// reached is the session's local one.
func TestProxyProtocolNamesTheClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
		client string
		relay  bool
	}{
		{"v1", []byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\n"), "198.51.100.7", false},
		{"v2", proxyV2(1, 0x11, netip.MustParseAddrPort("192.0.2.7:40000"), v4dst, tlvs), "192.0.2.7", true},
		{"v2 IPv6", proxyV2(1, 0x21, v6src, netip.MustParseAddrPort("[::ffff:192.0.2.25]:25"), nil), "2001:db8::7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &testPolicy{}
			h := start(t, withProxy(0, "127.0.0.1/32"), func(o *Options) { o.Policy = p })
			hd := tc.header
			d := h.proxied(hd[:3], hd[3:17], hd[17:])
			d.ehlo()
			d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
			want := "554 5.7.1 Relay access denied"
			if tc.relay {
				want = "250 2.0.0 I'll make sure <x@elsewhere.example> gets this"
			}
			d.cmd("RCPT TO:<x@elsewhere.example>", want)
			d.cmd("RSET", "250 2.0.0 Session reset")
			body := d.sendOne(h)
			lit := "[" + tc.client + "]"
			if strings.Contains(tc.client, ":") {
				lit = "[IPv6:" + tc.client + "]"
			}
			if !strings.Contains(body, "Received: from client.test ("+lit+")") {
				t.Errorf("Received does not name %s:\n%s", lit, body)
			}
			if got := p.log()[0]; got != "connect "+tc.client {
				t.Errorf("connect hook saw %q, want the header's client %s", got, tc.client)
			}
			info := p.lastInfo
			if info.Local != netip.MustParseAddrPort("192.0.2.25:25") || info.Proxy.Addr() != netip.MustParseAddr("127.0.0.1") || info.RelayClient != tc.relay {
				t.Errorf("session local %v, proxy %v, relay client %v", info.Local, info.Proxy, info.RelayClient)
			}
			waitLog(t, h, "proxy=127.0.0.1")
		})
	}
}

// v2 LOCAL and v1 UNKNOWN are the proxy's own connections (health
// checks): the proxy's address stays the client's, and the proxy's.
func TestProxyProtocolLocalKeepsTheProxy(t *testing.T) {
	for name, header := range map[string][]byte{
		"v2 LOCAL":   proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil),
		"v1 UNKNOWN": []byte("PROXY UNKNOWN\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			p := &testPolicy{}
			h := start(t, withProxy(0, "127.0.0.0/30"), func(o *Options) { o.Policy = p })
			d := h.proxied(header)
			body := d.sendOne(h)
			if !strings.Contains(body, "([127.0.0.1])") {
				t.Errorf("Received does not name the proxy:\n%s", body)
			}
			if info := p.lastInfo; info.Client.Addr() != netip.MustParseAddr("127.0.0.1") || info.Proxy != info.Client {
				t.Errorf("client %v, proxy %v", info.Client, info.Proxy)
			}
		})
	}
}

// A proxy's own connection is no relay_networks client, though the
// proxy's address is in relay_networks: a header naming no client (v2
// LOCAL, v1 UNKNOWN, v2 UNIX as HAProxy sends a UNIX-socket frontend's
// client) or the proxy itself does not relay. A client the header names
// in relay_networks relays.
func TestProxyProtocolOwnConnectionNotRelayNetworks(t *testing.T) {
	for name, header := range map[string]func(net.Conn) []byte{
		"v2 LOCAL":   func(net.Conn) []byte { return proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil) },
		"v1 UNKNOWN": func(net.Conn) []byte { return []byte("PROXY UNKNOWN\r\n") },
		"v2 UNIX":    func(net.Conn) []byte { return proxyV2(1, 0x31, netip.AddrPort{}, netip.AddrPort{}, make([]byte, 216)) },
		"v1 the proxy itself": func(c net.Conn) []byte {
			src, dst := tcpAddrPort(c.LocalAddr()), tcpAddrPort(c.RemoteAddr())
			return []byte(fmt.Sprintf("PROXY TCP4 %s %s %d %d\r\n", src.Addr(), dst.Addr(), src.Port(), dst.Port()))
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := &testPolicy{}
			h := start(t, withProxy(0, "127.0.0.1/32"), func(o *Options) {
				o.Policy = p
				o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
			})
			c := dialFrom(t, "127.0.0.1", h.addr("mx"))
			d := newDialog(t, c)
			d.raw(string(header(c)))
			d.expect("220 mx.test ESMTP")
			d.ehlo()
			d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
			d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
			if info := p.lastInfo; info.RelayClient || info.Client.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("relay client %v, client %v", info.RelayClient, info.Client)
			}
		})
	}
	h := start(t, withProxy(0, "127.0.0.1/32"), func(o *Options) {
		o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
	})
	d := h.proxied([]byte("PROXY TCP4 127.0.0.5 192.0.2.25 40000 25\r\n"))
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "250 2.0.0 I'll make sure <x@elsewhere.example> gets this")
}

// A proxy's own connections (its health checks, a client it could not
// name) are not throttled by the per-IP connection limits as one
// client's: refusing its checks would have the proxy take this server
// out of its pool. A client the header names is.
func TestProxyProtocolOwnConnectionsSparedPerIPLimits(t *testing.T) {
	h := start(t, withProxy(0, "127.0.0.1/32"), withLimits(func(l *config.Limits) {
		l.MaxConnectionsPerIP, l.ConnectionRatePerIP = 1, 1
	}))
	for _, header := range [][]byte{
		proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil),
		[]byte("PROXY UNKNOWN\r\n"),
		proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil),
	} {
		h.proxied(header) // open, all three at once
	}
	hdr := []byte("PROXY TCP4 198.51.100.1 192.0.2.25 40000 25\r\n")
	h.proxied(hdr)
	d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
	d.raw(string(hdr))
	d.expect("421 4.7.0 Too many connections from your address, try again later")
}

// A client outside proxy_protocol is served as a direct client, and a
// PROXY line from it is a bad command, not a change of address
// (proxy-protocol.txt §2: the receiver must not guess).
func TestProxyProtocolOnlyFromTrustedProxies(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withProxy(0, "127.0.0.1/32"), func(o *Options) { o.Policy = p })
	d := newDialog(t, dialFrom(t, "127.0.0.2", h.addr("mx")))
	d.expect("220 mx.test ESMTP")
	d.cmd("PROXY TCP4 192.0.2.7 192.0.2.25 40000 25", "500 5.5.2 Syntax errors, PROXY command unrecognized")
	body := d.sendOne(h)
	if !strings.Contains(body, "([127.0.0.2])") {
		t.Errorf("Received does not name the direct client:\n%s", body)
	}
	if got := p.log()[0]; got != "connect 127.0.0.2" {
		t.Errorf("connect hook saw %q", got)
	}
}

// A missing, bad or late header closes the connection without a reply,
// with one warning naming the proxy and why, counted by reason.
func TestProxyProtocolRefusals(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	// proxy_timeout short, so that the late header's wait is short.
	h := start(t, withProxy(200*time.Millisecond, "127.0.0.1/32"), func(o *Options) { o.Metrics = m })
	for _, tc := range []struct {
		send, reason, log string
	}{
		{"EHLO client.test\r\n", proxyMalformed, `not a PROXY header: starts with \"E\"`},
		{"PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\n", proxyMalformed, "bare CR or LF"},
		{"PROXY UNKNOWN " + strings.Repeat("x", 100), proxyTooLong, "without CRLF in its first 107 bytes"},
		{"PROXY TCP4 198.51.100.7 ", proxyTimeout, "no complete PROXY header within proxy_timeout"},
		{string(sealCRC(proxyV2(1, 0x11, v4src, v4dst, crcTLV), -4, true)), proxyChecksum, "PROXY v2 header fails its CRC32C"},
	} {
		d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
		d.raw(tc.send)
		d.expectClosed()
		waitLog(t, h, tc.log)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, `level=WARN msg="PROXY header refused" listener=mx proxy=127.0.0.1`); n != 5 {
		t.Errorf("%d warnings, want 5:\n%s", n, logs)
	}
	got := counts(t, m, "sluice_smtp_proxy_headers_refused_total", "listener", "reason")
	for k, v := range map[string]float64{"mx " + proxyMalformed: 2, "mx " + proxyTooLong: 1, "mx " + proxyTimeout: 1, "mx " + proxyChecksum: 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	// The family's HELP, which /metrics and a dashboard show, lists
	// every reason a header is counted under.
	reasons := "(" + strings.Join([]string{proxyTimeout, proxyClosed, proxyMalformed, proxyTooLong, proxyChecksum}, ", ") + ")"
	if help := familyHelp(t, m, "sluice_smtp_proxy_headers_refused_total"); !strings.Contains(help, reasons) {
		t.Errorf("HELP %q does not list the reasons %s", help, reasons)
	}
	waitFor(t, func() bool { return h.conns() == 0 })
}

// familyHelp is the HELP text of the metric family name.
func familyHelp(t *testing.T, m *metrics.Metrics, name string) string {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetHelp()
		}
	}
	t.Fatalf("no metric family %s", name)
	return ""
}

// A proxy that connects and closes without a byte (HAProxy's default TCP
// check) is neither warned of nor counted.
func TestProxyProtocolHealthCheckQuiet(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withProxy(0, "127.0.0.1/32"), func(o *Options) { o.Metrics = m })
	c := dialFrom(t, "127.0.0.1", h.addr("mx"))
	_ = c.Close()
	waitLog(t, h, "closed before a PROXY header")
	if strings.Contains(h.logs.String(), "level=WARN") {
		t.Errorf("a health check warned:\n%s", h.logs.String())
	}
	if got := counts(t, m, "sluice_smtp_proxy_headers_refused_total", "listener", "reason"); len(got) != 0 {
		t.Errorf("counted %v", got)
	}
}

// max_connections_per_ip counts the clients the headers name: the proxy's
// connections, all from one address, are not one client's, and a client
// past its limit through the proxy is refused.
func TestProxyProtocolPerIPLimits(t *testing.T) {
	h := start(t, withProxy(0, "127.0.0.1/32"), withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 1 }))
	hdr := func(src string) []byte { return []byte("PROXY TCP4 " + src + " 192.0.2.25 40000 25\r\n") }
	h.proxied(hdr("198.51.100.1"))
	h.proxied(hdr("198.51.100.2"))
	d := newDialog(t, dialFrom(t, "127.0.0.1", h.addr("mx")))
	d.raw(string(hdr("198.51.100.1")))
	d.expect("421 4.7.0 Too many connections from your address, try again later")
	d.expectClosed()
	waitLog(t, h, `msg="connection refused" listener=mx client=198.51.100.1`)
	// A direct client at the proxy's own address has its own count.
	h.srv.mu.Lock()
	n := h.srv.perIP[netip.MustParseAddr("127.0.0.1")]
	h.srv.mu.Unlock()
	if n != 0 {
		t.Errorf("the proxy's address counts %d connections", n)
	}
}

// On an implicit-TLS listener the header comes before the handshake; the
// ClientHello written in the same segment is left for TLS.
func TestProxyProtocolImplicitTLS(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	p := &testPolicy{}
	h := start(t, func(o *Options) {
		o.Policy = p
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
			ProxyProtocol: []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}},
			ProxyTimeout:  config.Duration{Duration: 5 * time.Second},
		})
	})
	raw := dialFrom(t, "127.0.0.1", h.addr("smtps"))
	tc := tls.Client(&prefixConn{Conn: raw, prefix: proxyV2(1, 0x21, v6src, v6dst, tlvs)}, clientTLS)
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	d.cmd("QUIT", "221 2.0.0 Bye")
	if got := p.log()[0]; got != "connect 2001:db8::7" {
		t.Errorf("connect hook saw %q", got)
	}
	if info := p.lastInfo; !info.TLS || info.Local != v6dst {
		t.Errorf("TLS %v, local %v", info.TLS, info.Local)
	}
}

// prefixConn writes prefix with the first write: the PROXY header and a
// TLS ClientHello in one segment.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Write(b []byte) (int, error) {
	if p := c.prefix; p != nil {
		c.prefix = nil
		n, err := c.Conn.Write(append(p, b...))
		return max(n-len(p), 0), err
	}
	return c.Conn.Write(b)
}

// proxy_protocol changes at a reload without a new socket: the running
// listener asks the connections it accepts from then on for a header.
func TestProxyProtocolReload(t *testing.T) {
	p := &testPolicy{}
	h := start(t, func(o *Options) { o.Policy = p })
	h.dial().cmd("QUIT", "221 2.0.0 Bye")
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].ProxyProtocol = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v", ch, err)
	}
	h.proxied([]byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\n")).cmd("QUIT", "221 2.0.0 Bye")
	if got := p.log(); len(got) != 2 || got[1] != "connect 198.51.100.7" {
		t.Errorf("connect hook saw %q", got)
	}
}

// counts reads the counter family name from m's registry, keyed by the
// values of labels joined with spaces.
func counts(t *testing.T, m *metrics.Metrics, name string, labels ...string) map[string]float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			var key []string
			for _, l := range labels {
				key = append(key, have[l])
			}
			out[strings.Join(key, " ")] = s.GetCounter().GetValue()
		}
	}
	return out
}
