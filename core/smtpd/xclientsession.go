package smtpd

import (
	"errors"
	"net/netip"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/reply"
)

var (
	_ smtp.XClientSession = (*session)(nil)
	_ smtp.XClientBackend = backend{}
)

// NewXClientSession answers an XCLIENT sent before EHLO: at the start of
// the connection, or right after another XCLIENT's 220, as a proxy whose
// attributes do not fit one line sends them (Dovecot's submission relay;
// Postfix takes XCLIENT at any time outside a transaction). The session
// has not greeted: no helo hook, no HELO name. XClientAttributes offers
// XCLIENT to the listener's xclient_hosts only, as after EHLO.
func (b backend) NewXClientSession(sc *smtp.Conn) (smtp.XClientSession, error) {
	c := connOf(sc)
	if c == nil {
		return nil, errors.New("smtpd: connection not accepted by this server")
	}
	return &session{srv: b.l.srv, conn: c, sc: sc, info: c.info}, nil
}

// XClientAttributes is the XCLIENT keyword of EHLO: the attributes Sluice
// takes, offered to a client in the listener's xclient_hosts only.
func (s *session) XClientAttributes() []string {
	if !s.conn.xclientAllowed() {
		return nil
	}
	return xclientNames
}

// XClient takes what an XCLIENT command says of the client it speaks for;
// go-smtp then starts the session over. The greeting it returns is the
// new client's refusal, in place of the 220.
func (s *session) XClient(attrs []smtp.XClientAttr) (*smtp.SMTPError, error) {
	x, r := parseXClient(attrs)
	if r != nil {
		return nil, s.refuse("xclient", r)
	}
	if r := s.conn.adopt(x); r != nil {
		return toSMTP(r).(*smtp.SMTPError), nil
	}
	return nil, nil
}

// adopt makes the client x names the connection's, as if it had just
// connected, the connection's peer its proxy: the client's address goes
// where a PROXY header's goes (relayedBy), so relay_networks, the per-IP
// limits, the stages and milters, Received and the logs all see it. What
// x does not give is kept (its name is looked up anew for a new address),
// as Postfix's smtpd keeps it, but for HELO, PROTO and LOGIN, which last
// until the next XCLIENT only if it gives them again, unless the run of
// XCLIENTs is still open (xclientOpen): a proxy splits its attributes
// over XCLIENTs sent one after the other, HELO and PROTO first and ADDR
// last, as XCLIENT_README has it. It returns the refusal the new client
// gets in place of the greeting: a connection limit's, or the connect
// hook's.
func (c *conn) adopt(x *xclient) *reply.Reply {
	srv := c.srv
	// The stages' and milters' session of the client before ends here
	// (Postfix's milters see a disconnect); the connect hook below opens
	// the new client's.
	if srv.policy != nil {
		srv.policy.Close(&c.info)
		c.info.State = nil
	}
	if !c.xclientPeer.IsValid() {
		c.xclientPeer = c.info.Client
	}
	client, local, name := c.info.Client, c.info.Local, c.info.ClientName
	if x.addr != nil {
		// A new address: its port is unknown unless PORT gives it, its
		// name unless NAME gives it or the look-up finds it.
		client, name = netip.AddrPortFrom(*x.addr, 0), ""
		if x.name == nil && srv.clientName != nil {
			name = srv.clientName(srv.ctx, *x.addr)
		}
	}
	if x.port != nil {
		client = netip.AddrPortFrom(client.Addr(), *x.port)
	}
	if x.name != nil {
		name = *x.name
	}
	if x.destAddr != nil {
		local = netip.AddrPort{} // [UNAVAILABLE]
		if x.destAddr.IsValid() {
			local = netip.AddrPortFrom(*x.destAddr, c.info.Local.Port())
		}
	}
	if x.destPort != nil && local.IsValid() {
		local = netip.AddrPortFrom(local.Addr(), *x.destPort)
	}
	if client != c.info.Client {
		// Where relayedBy puts a PROXY header's client, but the proxy is
		// the peer that sent the XCLIENTs, not the client the one before
		// this named: a chain of them comes from one connection.
		c.clientMu.Lock()
		c.info.Client, c.info.Local = client, local
		c.clientMu.Unlock()
		c.info.Proxy = c.xclientPeer
	} else {
		// NAME, HELO or LOGIN alone: the peer is still the client, and
		// not its own proxy (proxyOwn, a health check's mark).
		c.info.Local = local
	}
	c.info.RelayClient = srv.inRelayNetworks(&c.info)
	c.info.ClientName = name
	// Postfix 3.7 resets them (helo_reset, smtpd_sasl_auth_reset) at
	// every XCLIENT that does not give them, and so loses a LOGIN sent
	// before the ADDR that did not fit its line; Sluice keeps them while
	// the XCLIENTs follow one another.
	if x.heloGiven || !c.xclientOpen {
		c.xhelo = x.helo
	}
	if x.proto != "" || !c.xclientOpen {
		c.xproto = x.proto
	}
	// LOGIN authenticates the session as that user (Postfix's
	// smtpd_sasl_auth_extern): it may relay, and [auth] senders applies.
	if x.loginGiven || !c.xclientOpen {
		c.info.AuthUser, c.info.AuthMech = "", ""
		if x.login != nil {
			c.info.AuthUser, c.info.AuthMech = *x.login, "XCLIENT"
		}
	}
	// ADDR, which a split XCLIENT sends last, ends the run: an XCLIENT
	// after it names another client, who has no HELO or LOGIN unless it
	// gives them, as in Postfix.
	c.xclientOpen = x.addr == nil
	c.logXClient()
	// Counted under the new client from now on, and limited as a client
	// connecting now would be.
	srv.uncount(c)
	if r := srv.countClient(c, false); r != nil {
		c.l.limitRefused(c, r)
		return r
	}
	return c.l.connectRefusal(c)
}

// xclientStartTLS forgets, at STARTTLS, what XCLIENT said in the clear of
// the client's greeting and login: RFC 3207 §4.2 has the server discard
// what it learnt from the client before TLS. Postfix's STARTTLS likewise
// drops the HELO name (starttls_cmd: helo_reset) and, where SASL is on,
// the login (smtpd_start_tls: smtpd_sasl_auth_reset), and its EHLO under
// TLS makes the protocol ESMTP. The client's address, name and port,
// the proxy's word on who connected, stay, as in Postfix. Under TLS the
// session is then no one's until its own AUTH or another XCLIENT: it
// relays only from relay_networks, [auth] senders leaves it alone, and
// Received has no ESMTPA of the login before.
func (c *conn) xclientStartTLS() {
	c.xhelo, c.xproto = nil, ""
	if c.info.AuthMech == "XCLIENT" {
		c.info.AuthUser, c.info.AuthMech = "", ""
	}
}

// logXClient logs the client XCLIENT named, and the proxy that named it:
// the audit trail changes there.
func (c *conn) logXClient() {
	args := append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)
	if c.xhelo != nil {
		args = append(args, "helo", *c.xhelo)
	}
	if c.xproto != "" {
		args = append(args, "proto", c.xproto)
	}
	if c.info.AuthUser != "" {
		args = append(args, "user", c.info.AuthUser)
	}
	if c.info.Local.IsValid() {
		args = append(args, "local", c.info.Local.String())
	}
	c.srv.log.Info("xclient", args...)
}
