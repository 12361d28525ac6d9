package smtpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/internal/netlist"
)

// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2):
// a proxy in front of Sluice opens each connection with a header naming
// the client it relays, since the connection itself is the proxy's.

// proxyV1Max is the longest v1 line, CRLF included: "PROXY UNKNOWN" with
// two full IPv6 addresses and ports (§2.1).
const proxyV1Max = 107

// proxyV2Sig opens every v2 header (§2.2).
var proxyV2Sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// proxyHeader is what a header says of the connection.
type proxyHeader struct {
	// own is set when the connection is the proxy's own rather than a
	// relayed client's: v2 LOCAL (a health check), v1 UNKNOWN, and a v2
	// PROXY of a family other than TCP over IPv4 or IPv6 (UNSPEC, UDP,
	// UNIX), which §2.2 has a receiver take as UNSPEC, the real
	// connection's addresses. Source and Dest are then unset.
	own bool
	// Source is the client, Dest the address it connected to (the
	// proxy's frontend), unmapped as tcpAddrPort has them.
	Source, Dest netip.AddrPort
}

// proxyError is why a header was refused.
type proxyError struct {
	reason string // the label of sluice_smtp_proxy_header_errors_total
	detail string // for the log
	// quiet: the proxy closed before sending a byte. HAProxy's default
	// TCP health check connects and closes, every few seconds; that is
	// neither logged as a warning nor counted.
	quiet bool
}

func (e *proxyError) Error() string { return e.detail }

// Reasons a header is refused, the metric's label values.
const (
	proxyTimeout   = "timeout"   // no complete header within proxy_timeout
	proxyClosed    = "closed"    // the connection ended inside the header
	proxyMalformed = "malformed" // not a PROXY header, or a bad one
	proxyTooLong   = "too_long"  // a v1 line without CRLF in 107 bytes
	proxyChecksum  = "checksum"  // a v2 header failing its CRC32C TLV
)

func malformed(detail string) error {
	return &proxyError{reason: proxyMalformed, detail: detail}
}

// readErr is the proxyError for a read that failed after n bytes of the
// header.
func readErr(err error, n int) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return &proxyError{reason: proxyTimeout, detail: "no complete PROXY header within proxy_timeout (" + strconv.Itoa(n) + " bytes read)"}
	case n == 0:
		return &proxyError{reason: proxyClosed, detail: "closed before a PROXY header: " + err.Error(), quiet: true}
	}
	return &proxyError{reason: proxyClosed, detail: "closed inside the PROXY header: " + err.Error()}
}

// readProxyHeader reads one v1 or v2 header from r and not a byte more:
// what follows is the client's (an implicit-TLS ClientHello, a command).
// A v1 line is read a byte at a time for that; it is the connection's
// first bytes only.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return proxyHeader{}, readErr(err, 0)
	}
	switch b[0] {
	case 'P':
		return readProxyV1(r)
	case proxyV2Sig[0]:
		return readProxyV2(r)
	}
	// §2.2: neither signature: "the connection must be dropped".
	return proxyHeader{}, malformed("not a PROXY header: starts with " + strconv.QuoteToASCII(string(b[:])))
}

// readProxyV1 reads the rest of a v1 line, its "P" read.
func readProxyV1(r io.Reader) (proxyHeader, error) {
	line := make([]byte, 1, proxyV1Max)
	line[0] = 'P'
	var b [1]byte
	for {
		if len(line) == proxyV1Max {
			return proxyHeader{}, &proxyError{reason: proxyTooLong, detail: "PROXY v1 line without CRLF in its first 107 bytes"}
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return proxyHeader{}, readErr(err, len(line))
		}
		prev := line[len(line)-1]
		line = append(line, b[0])
		switch {
		case len(line) <= len("PROXY ") && !strings.HasPrefix("PROXY ", string(line)):
			// Dropped as soon as it cannot be one, so that a client
			// greeting first is not held for proxy_timeout.
			return proxyHeader{}, malformed("not a PROXY header: starts with " + strconv.QuoteToASCII(string(line)))
		case prev == '\r' && b[0] != '\n', prev != '\r' && b[0] == '\n':
			// §2.1: a lone CR or LF does not end the line.
			return proxyHeader{}, malformed("PROXY v1 line with a bare CR or LF: " + strconv.QuoteToASCII(string(line)))
		case b[0] == '\n':
			return parseProxyV1(string(line[:len(line)-2]))
		}
	}
}

// parseProxyV1 parses a v1 line without its CRLF (§2.1): exactly
// "PROXY TCP4|TCP6 SRC DST SPORT DPORT", single spaces, or "PROXY
// UNKNOWN" and anything up to the CRLF.
func parseProxyV1(line string) (proxyHeader, error) {
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return proxyHeader{own: true}, nil
	}
	bad := func(why string) (proxyHeader, error) {
		return proxyHeader{}, malformed("PROXY v1 line " + strconv.QuoteToASCII(line) + ": " + why)
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return bad(`want "PROXY TCP4|TCP6 SRC DST SPORT DPORT" or "PROXY UNKNOWN"`)
	}
	v4 := f[1] == "TCP4"
	var addrs [2]netip.Addr
	for i, s := range f[2:4] {
		a, err := netip.ParseAddr(s) // refuses an IPv4 octet's heading zero
		if err != nil || a.Zone() != "" || a.Is4() != v4 {
			return bad("bad " + f[1] + " address " + strconv.QuoteToASCII(s))
		}
		addrs[i] = a.Unmap()
	}
	var ports [2]uint16
	for i, s := range f[4:6] {
		p, ok := v1Port(s)
		if !ok {
			return bad("bad port " + strconv.QuoteToASCII(s))
		}
		ports[i] = p
	}
	return proxyHeader{Source: netip.AddrPortFrom(addrs[0], ports[0]), Dest: netip.AddrPortFrom(addrs[1], ports[1])}, nil
}

// v1Port parses a port of a v1 line: decimal 0-65535, no heading zero
// (§2.1, against octal confusion), no sign.
func v1Port(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || (s[0] == '0' && s != "0") {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// readProxyV2 reads the rest of a v2 header, its first byte read (§2.2):
// the signature, version and command, family and protocol, the length,
// then that many bytes of addresses and TLVs. Of the TLVs only a CRC32C
// is checked, and only in a header whose addresses are used (PROXY over
// TCP), as HAProxy's receiver does: any other header is taken for the
// real connection's addresses, whatever its bytes.
func readProxyV2(r io.Reader) (proxyHeader, error) {
	var fixed [16]byte
	fixed[0] = proxyV2Sig[0]
	if n, err := io.ReadFull(r, fixed[1:]); err != nil {
		return proxyHeader{}, readErr(err, 1+n)
	}
	if !bytes.Equal(fixed[:12], proxyV2Sig) {
		return proxyHeader{}, malformed("not a PROXY header: bad v2 signature " + strconv.QuoteToASCII(string(fixed[:12])))
	}
	verCmd, fam := fixed[12], fixed[13]
	if verCmd>>4 != 2 {
		return proxyHeader{}, malformed("PROXY v2 header of version " + strconv.Itoa(int(verCmd>>4)))
	}
	cmd := verCmd & 0x0F
	if cmd > 1 {
		return proxyHeader{}, malformed("PROXY v2 header with command " + strconv.Itoa(int(cmd)) + " (want LOCAL or PROXY)")
	}
	if fam>>4 > 3 || fam&0x0F > 2 {
		return proxyHeader{}, malformed("PROXY v2 header with address family and protocol 0x" + strconv.FormatUint(uint64(fam), 16))
	}
	body := make([]byte, binary.BigEndian.Uint16(fixed[14:]))
	if n, err := io.ReadFull(r, body); err != nil {
		return proxyHeader{}, readErr(err, 16+n)
	}
	if cmd == 0 {
		// LOCAL: "the receiver must accept this connection as valid
		// and must use the real connection endpoints".
		return proxyHeader{own: true}, nil
	}
	var n int
	switch fam {
	case 0x11: // TCP over IPv4
		n = 4
	case 0x21: // TCP over IPv6
		n = 16
	default:
		return proxyHeader{own: true}, nil
	}
	if len(body) < 2*n+4 {
		return proxyHeader{}, malformed("PROXY v2 address block of " + strconv.Itoa(len(body)) + " bytes, want " + strconv.Itoa(2*n+4))
	}
	if err := checkProxyTLVs(fixed[:], body, 2*n+4); err != nil {
		return proxyHeader{}, err
	}
	src, _ := netip.AddrFromSlice(body[:n])
	dst, _ := netip.AddrFromSlice(body[n : 2*n])
	sport := binary.BigEndian.Uint16(body[2*n:])
	dport := binary.BigEndian.Uint16(body[2*n+2:])
	// HAProxy sends a client of an IPv4 frontend to an IPv6 server as
	// IPv4-mapped IPv6.
	return proxyHeader{Source: netip.AddrPortFrom(src.Unmap(), sport), Dest: netip.AddrPortFrom(dst.Unmap(), dport)}, nil
}

// proxyTrust is a listener's proxy_protocol and proxy_timeout as they are
// now; a reload replaces it for the connections accepted after.
type proxyTrust struct {
	nets    []netip.Prefix
	timeout time.Duration
}

func newProxyTrust(lc config.Listener) *proxyTrust {
	return &proxyTrust{nets: prefixes(lc.ProxyProtocol), timeout: lc.ProxyTimeout.Duration}
}

// trusts reports whether a connection from ip must open with a header.
func (p *proxyTrust) trusts(ip netip.Addr) bool {
	return netlist.Contains(p.nets, ip)
}

// admitProxied reads the header of a connection from a trusted proxy,
// with proxy_timeout for the whole of it, and admits the client it names;
// full is whether max_connections was reached when it was accepted.
// Before the header nothing is written: a bad or missing one closes the
// connection without a reply (the proxy's peer was never greeted).
func (l *listener) admitProxied(c *conn, full bool, timeout time.Duration) {
	err := c.Conn.SetReadDeadline(time.Now().Add(timeout))
	var h proxyHeader
	if err == nil {
		h, err = readProxyHeader(c.Conn)
	}
	if err == nil {
		// go-smtp sets its own deadlines; the TLS handshake of an
		// implicit-TLS listener has none but this.
		err = c.Conn.SetReadDeadline(time.Time{})
	}
	if err != nil {
		l.proxyRefused(c, err)
		c.abort()
		return
	}
	c.relayedBy(h)
	// The per-IP limits count the client the header names: the proxy's
	// relayed connections, all of them, are no one client's.
	l.admit(c, l.srv.countClient(c, full))
}

// proxyRefused logs and counts a refused header, but for a proxy closing
// before a byte (a TCP health check) and a connection Shutdown ended.
func (l *listener) proxyRefused(c *conn, err error) {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	var pe *proxyError
	if !errors.As(err, &pe) {
		pe = &proxyError{reason: proxyClosed, detail: err.Error()}
	}
	switch {
	case closing:
		c.closeAs(metrics.CloseShutdown)
	case pe.quiet:
		c.closeAs(metrics.CloseHangup) // a health check
	default:
		c.closeAs(metrics.CloseProxy)
	}
	if closing || pe.quiet {
		l.srv.log.Debug("PROXY header refused", "listener", l.cfg.Name, "proxy", c.info.Client.Addr().String(), "reason", pe.detail)
		return
	}
	l.srv.metrics.ProxyHeaderRefused(l.cfg.Name, pe.reason)
	l.srv.log.Warn("PROXY header refused", "listener", l.cfg.Name, "proxy", c.info.Client.Addr().String(), "reason", pe.detail)
}

// relayedBy makes the client the header names the connection's: for the
// limits, relay_networks, the stages and milters, Received and the logs.
// The address the client reached, the proxy's frontend, is Local, as in
// Postfix ({daemon_addr}, an address literal naming this host). A header
// that names no client (h.own) leaves the proxy's address as the
// client's, as §2.1 and §2.2 have it, and Proxy equal to it.
func (c *conn) relayedBy(h proxyHeader) {
	c.info.Proxy = c.info.Client
	if !h.own {
		c.clientMu.Lock()
		c.info.Client, c.info.Local = h.Source, h.Dest
		c.clientMu.Unlock()
	}
	c.info.RelayClient = c.srv.inRelayNetworks(&c.info)
}

// proxyOwn reports whether the session is a trusted proxy's own
// connection: its header named no client (v2 LOCAL, v1 UNKNOWN, a family
// other than TCP), or named the proxy itself, as §2.1 has a health check
// do.
func (info *SessionInfo) proxyOwn() bool {
	return info.Proxy.IsValid() && info.Proxy == info.Client
}

// inRelayNetworks reports whether the session's client is in
// relay_networks now, for relaying and the limits relay_networks is
// spared. A trusted proxy's own connection never is, wherever the proxy
// is: relay_networks lists mail clients, and such a connection is a
// health check or a client the proxy could not name (HAProxy's UNKNOWN
// for a UNIX-socket frontend), whom the proxy's address would make a
// relay (HAProxy on this host, 127.0.0.0/8 in relay_networks).
func (s *Server) inRelayNetworks(info *SessionInfo) bool {
	return !info.proxyOwn() && s.mayRelay(info.Client.Addr())
}
