package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

const xclientKeyword = "XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"

// withXClient makes the "mx" listener allow XCLIENT from nets.
func withXClient(nets ...string) func(*Options) {
	return func(o *Options) {
		lc := &o.Config.Listeners[0]
		for _, n := range nets {
			lc.XClientHosts = append(lc.XClientHosts, config.Prefix{Prefix: netip.MustParsePrefix(n)})
		}
	}
}

// dialAs connects to the "mx" listener from the loopback address local
// and reads the greeting.
func (h *harness) dialAs(local string) *dialog {
	h.t.Helper()
	d := newDialog(h.t, dialFrom(h.t, local, h.addr("mx")))
	d.expect("220 mx.test ESMTP")
	return d
}

// sendTo sends a message to rcpt in a new transaction and returns the
// queued body.
func (d *dialog) sendTo(h *harness, from, rcpt string) string {
	d.t.Helper()
	d.cmd("MAIL FROM:<"+from+">", "250 2.0.0 Roger, accepting mail from <"+from+">")
	d.cmd("RCPT TO:<"+rcpt+">", "250 2.0.0 I'll make sure <"+rcpt+"> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	id := d.queued()
	body, err := h.q.Body(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(body)
}

// A client in xclient_hosts sees the keyword and may name the client it
// speaks for; another (127.0.0.2 here) sees none and is refused as
// Postfix refuses it.
func TestXClientAuthorization(t *testing.T) {
	h := start(t, withXClient("127.0.0.1/32"))
	d := h.dialAs("127.0.0.2")
	if caps := d.ehloCaps(); strings.Contains(strings.Join(caps, "\n"), "XCLIENT") {
		t.Errorf("EHLO to an unauthorized client advertises XCLIENT: %q", caps)
	}
	d.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")

	d = h.dialAs("127.0.0.1")
	if caps := d.ehloCaps(); !slices.Contains(caps, xclientKeyword) {
		t.Errorf("EHLO to an authorized client lacks %q: %q", xclientKeyword, caps)
	}
	d.cmd("XCLIENT ADDR=192.0.2.1", "220 mx.test ESMTP")
	waitLog(t, h, "msg=xclient listener=mx client=192.0.2.1 proxy=127.0.0.1")
}

// Every attribute: the session goes on as the client they name, which
// the connect hook (after the proxy's own connection), the helo hook,
// relay_networks (192.0.2.0/24), Received and the logs see; PROTO=SMTP
// stands for the proxy's EHLO in the "with" clause, but the EHLO's name
// replaces HELO=, as in Postfix (TestXClientGreetingReplacesHELO). The
// client must greet again, and a second XCLIENT is judged by the new
// client's address, as Postfix judges it.
func TestXClientAttributes(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.1/32"), func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT NAME=Mail.Example.NET. ADDR=192.0.2.1 PORT=4242 HELO=orig+2Bhelo.example PROTO=smtp DESTADDR=IPV6:2001:db8::25 DESTPORT=2525",
		"220 mx.test ESMTP")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	if caps := d.ehloCaps(); slices.Contains(caps, xclientKeyword) {
		t.Errorf("XCLIENT still offered to the new client 192.0.2.1: %q", caps)
	}
	body := d.sendTo(h, "a@example.org", "x@elsewhere.example")
	// (after the test policy's header)
	if want := "\r\nReceived: from client.test (mail.example.net [192.0.2.1])\r\n\tby mx.test (Sluice) with SMTP id "; !strings.Contains(body, want) {
		t.Errorf("message starts %q, want %q", body[:min(len(body), 140)], want)
	}
	calls := p.log()
	if want := []string{"connect 127.0.0.1", "helo client.test", "connect 192.0.2.1", "helo client.test"}; len(calls) < 4 || strings.Join(calls[:4], "|") != strings.Join(want, "|") {
		t.Errorf("hooks saw %q, want %q first", calls, want)
	}
	p.mu.Lock()
	info := p.lastInfo
	p.mu.Unlock()
	if info.Client != netip.MustParseAddrPort("192.0.2.1:4242") || info.ClientName != "mail.example.net" ||
		info.Local != netip.MustParseAddrPort("[2001:db8::25]:2525") || info.Proxy.Addr() != netip.MustParseAddr("127.0.0.1") ||
		!info.RelayClient || info.Helo != "client.test" {
		t.Errorf("session info %+v", info)
	}
	d.cmd("XCLIENT ADDR=127.0.0.1", "550 5.7.0 Error: insufficient authorization")
	waitLog(t, h, "msg=xclient listener=mx client=192.0.2.1 client_name=mail.example.net proxy=127.0.0.1 helo=orig+helo.example proto=SMTP local=[2001:db8::25]:2525")
}

// What XCLIENT does not give is kept, but for HELO, PROTO and LOGIN (and
// a proxy that names no other address is no proxy); a new ADDR's name is
// looked up, its port unknown; [UNAVAILABLE] and
// [TEMPUNAVAIL] leave the name unknown, and an IPv6 ADDR may come
// without "IPV6:", as nginx sends it.
func TestXClientKeepsAndForgets(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.0/8"), func(o *Options) {
		o.Policy = p
		o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
		o.ClientName = func(_ context.Context, ip netip.Addr) string { return "looked-up.test" }
	})
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	info := func() SessionInfo {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lastInfo
	}
	d.cmd("XCLIENT NAME=named.test HELO=h.test PROTO=ESMTP LOGIN=a@example.org", "220 mx.test ESMTP")
	d.cmd("HELO proxy.test", "250 mx.test Hello proxy.test")
	// The proxy named itself: still a relay_networks client, not a
	// proxy's own connection.
	if i := info(); i.Client.Addr() != netip.MustParseAddr("127.0.0.1") || i.ClientName != "named.test" || i.Helo != "proxy.test" ||
		i.Proxy.IsValid() || !i.RelayClient {
		t.Errorf("after NAME alone: %+v", i)
	}
	body := d.sendTo(h, "a@example.org", "b@example.org")
	if !strings.Contains(body, "\r\nReceived: from proxy.test (named.test [127.0.0.1])\r\n\tby mx.test (Sluice) with ESMTPA id ") {
		t.Errorf("PROTO=ESMTP after HELO, LOGIN: %q", body[:min(len(body), 140)])
	}
	d.cmd("XCLIENT ADDR=127.0.0.5", "220 mx.test ESMTP")
	d.cmd("HELO proxy.test", "250 mx.test Hello proxy.test")
	if i := info(); i.Client != netip.MustParseAddrPort("127.0.0.5:0") || i.ClientName != "looked-up.test" || i.Helo != "proxy.test" || i.AuthUser != "" {
		t.Errorf("after ADDR alone: %+v", i)
	}
	body = d.sendTo(h, "a@example.org", "b@example.org")
	if !strings.Contains(body, "\r\nReceived: from proxy.test (looked-up.test [127.0.0.5])\r\n\tby mx.test (Sluice) with SMTP id ") {
		t.Errorf("HELO, PROTO and LOGIN forgotten: %q", body[:min(len(body), 140)])
	}
	for _, tc := range []struct{ cmd, addr string }{
		{"XCLIENT NAME=[UNAVAILABLE] ADDR=2001:db8::7", "2001:db8::7"},
		{"XCLIENT NAME=[tempunavail] ADDR=IPv6:2001:db8::8 PORT=[UNAVAILABLE]", "2001:db8::8"},
	} {
		d = h.dialAs("127.0.0.1")
		d.ehlo()
		d.cmd(tc.cmd, "220 mx.test ESMTP")
		d.ehlo()
		if i := info(); i.Client != netip.AddrPortFrom(netip.MustParseAddr(tc.addr), 0) || i.ClientName != "" {
			t.Errorf("%s: %+v", tc.cmd, i)
		}
	}
}

// Syntax errors are 501 5.5.4 in Postfix's words and change nothing,
// before EHLO too; XCLIENT inside a transaction is 503 5.5.1.
func TestXClientRefusals(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.1/32"), func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.cmd("XCLIENT ADDR=999.1.1.1", "501 5.5.4 Bad ADDR syntax: 999.1.1.1")
	d.ehlo()
	for _, tc := range []struct{ cmd, want string }{
		{"XCLIENT", "501 5.5.4 Syntax: XCLIENT attribute=value..."},
		{"XCLIENT ADDR", "501 5.5.4 Error: attribute=value expected"},
		{"XCLIENT FOO=bar", "501 5.5.4 Bad XCLIENT attribute name: FOO"},
		{"XCLIENT REVERSE_NAME=a.test", "501 5.5.4 Bad XCLIENT attribute name: REVERSE_NAME"},
		{"XCLIENT ADDR=999.1.1.1", "501 5.5.4 Bad ADDR syntax: 999.1.1.1"},
		{"XCLIENT ADDR=[UNAVAILABLE]", "501 5.5.4 Bad ADDR syntax: [UNAVAILABLE]"},
		{"XCLIENT ADDR=IPV6:192.0.2.1", "501 5.5.4 Bad ADDR syntax: IPV6:192.0.2.1"},
		{"XCLIENT ADDR=fe80::1%eth0", "501 5.5.4 Bad ADDR syntax: fe80::1%eth0"},
		{"XCLIENT PORT=65536", "501 5.5.4 Bad PORT syntax: 65536"},
		{"XCLIENT DESTPORT=-1", "501 5.5.4 Bad DESTPORT syntax: -1"},
		{"XCLIENT PROTO=LMTP", "501 5.5.4 Bad PROTO syntax: LMTP"},
		{"XCLIENT NAME=192.0.2.1", "501 5.5.4 Bad NAME syntax: 192.0.2.1"},
		{"XCLIENT NAME=a_b.test", "501 5.5.4 Bad NAME syntax: a_b.test"},
		{"XCLIENT HELO=a+0D+0Ab", "501 5.5.4 Bad HELO syntax: a+0D+0Ab"},
		{"XCLIENT LOGIN=+FF", "501 5.5.4 Bad LOGIN syntax: ?"},
		{"XCLIENT ADDR=192.0.2.1 PORT=x", "501 5.5.4 Bad PORT syntax: x"},
		// The longest value go-smtp takes, echoed cut.
		{"XCLIENT ADDR=" + strings.Repeat("9", 255), "501 5.5.4 Bad ADDR syntax: " + strings.Repeat("9", maxXClientEcho) + "..."},
	} {
		d.cmd(tc.cmd, tc.want)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("XCLIENT ADDR=192.0.2.1", "503 5.5.1 Error: MAIL transaction in progress")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	if got := p.log(); got[0] != "connect 127.0.0.1" || strings.Contains(strings.Join(got, "|"), "connect 192.0.2.1") {
		t.Errorf("a refused XCLIENT reached the connect hook: %q", got)
	}
	waitLog(t, h, "stage=xclient")
}

// LOGIN authenticates the session as that user, as AUTH does: it may
// relay, and send only as the addresses [auth] senders gives it; AUTH
// after it is refused.
func TestXClientLogin(t *testing.T) {
	h := start(t, withXClient("127.0.0.1/32"), func(o *Options) {
		o.Config.Auth.Senders = map[string][]string{"bob": {"@bob.example"}}
	})
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.7 LOGIN=bob", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("AUTH PLAIN AGJvYgBzZWNyZXQ=", "503 5.5.1 Already authenticated")
	d.cmd("MAIL FROM:<alice@example.org>", "553 5.7.1 Sender address not owned by the authenticated user")
	body := d.sendTo(h, "any@bob.example", "x@elsewhere.example")
	if !strings.HasPrefix(body, "Received: from client.test ([198.51.100.7])\r\n\tby mx.test (Sluice) with ESMTPA id ") {
		t.Errorf("message starts %q", body[:min(len(body), 120)])
	}
	waitLog(t, h, "client=198.51.100.7 proxy=127.0.0.1 user=bob")
	// Without LOGIN, the next XCLIENT's client is no one's.
	d.cmd("XCLIENT ADDR=198.51.100.7", "550 5.7.0 Error: insufficient authorization")
	d = h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT LOGIN=bob", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("XCLIENT NAME=a.test", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<any@bob.example>", "250 2.0.0 Roger, accepting mail from <any@bob.example>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
}

// XCLIENT before EHLO, as Postfix takes it: at the start of the
// connection, and right after another XCLIENT's 220, as Dovecot's
// submission relay sends the attributes that did not fit the first
// command's line. Only an xclient_hosts client may; every other command
// still waits for EHLO. HELO, PROTO and LOGIN of XCLIENTs that follow
// one another add up (Postfix 3.7 forgets them at the second); after
// EHLO the next XCLIENT starts afresh, and [UNAVAILABLE] forgets.
func TestXClientBeforeEHLO(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.1/32"), func(o *Options) {
		o.Policy = p
		o.Config.Listeners[0].ReceivedAuthUser = true
	})
	d := h.dialAs("127.0.0.2")
	d.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")

	d = h.dialAs("127.0.0.1")
	d.cmd("XCLIENT HELO=client.helo.test PROTO=ESMTP LOGIN=a@example.org", "220 mx.test ESMTP")
	d.cmd("XCLIENT PORT=4242 ADDR=192.0.2.1", "220 mx.test ESMTP")
	for _, cmd := range []string{"MAIL FROM:<a@example.org>", "AUTH PLAIN AGJvYgBzZWNyZXQ="} {
		d.cmd(cmd, "503 5.5.1 Please introduce yourself first.")
	}
	if caps := d.ehloCaps(); slices.Contains(caps, xclientKeyword) {
		t.Errorf("XCLIENT still offered to the new client 192.0.2.1: %q", caps)
	}
	body := d.sendTo(h, "a@example.org", "x@elsewhere.example")
	if want := "\r\nReceived: from client.test ([192.0.2.1])\r\n\t(Authenticated sender: a@example.org)\r\n\tby mx.test (Sluice) with ESMTPA id "; !strings.Contains(body, want) {
		t.Errorf("message starts %q, want %q", body[:min(len(body), 160)], want)
	}
	waitLog(t, h, "msg=xclient listener=mx client=192.0.2.1 proxy=127.0.0.1 helo=client.helo.test proto=ESMTP user=a@example.org")
	calls := p.log()
	if want := []string{"connect 127.0.0.1", "connect 127.0.0.1", "connect 192.0.2.1", "helo client.test"}; len(calls) < 5 || strings.Join(calls[1:5], "|") != strings.Join(want, "|") {
		t.Errorf("hooks saw %q, want %q after the first", calls, want)
	}

	d = h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT LOGIN=a@example.org HELO=client.helo.test", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.2", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")

	d = h.dialAs("127.0.0.1")
	d.cmd("XCLIENT LOGIN=a@example.org HELO=client.helo.test", "220 mx.test ESMTP")
	d.cmd("XCLIENT LOGIN=[UNAVAILABLE] HELO=[UNAVAILABLE] ADDR=198.51.100.3", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	waitLog(t, h, "msg=xclient listener=mx client=198.51.100.3 proxy=127.0.0.1 local=")
}

// A run of XCLIENTs before EHLO ends at the one that gives ADDR, which
// XCLIENT_README has a proxy send last, and at STARTTLS: the XCLIENT
// after either starts afresh, as Postfix's does, so a proxy naming
// another client without LOGIN does not pass the last one's user on.
func TestXClientRunEnds(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, withXClient("127.0.0.0/8"), tlsOpt)

	d := h.dialAs("127.0.0.1")
	d.cmd("XCLIENT HELO=client.helo.test LOGIN=a@example.org ADDR=127.0.0.5", "220 mx.test ESMTP")
	d.cmd("XCLIENT ADDR=198.51.100.4", "220 mx.test ESMTP")
	waitLog(t, h, "msg=xclient listener=mx client=198.51.100.4 proxy=127.0.0.1 local=")
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")

	d = h.dialAs("127.0.0.1")
	d.cmd("XCLIENT HELO=client.helo.test LOGIN=a@example.org", "220 mx.test ESMTP")
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = newDialog(t, tc)
	d.cmd("XCLIENT ADDR=198.51.100.5", "220 mx.test ESMTP")
	waitLog(t, h, "msg=xclient listener=mx client=198.51.100.5 proxy=127.0.0.1 local=")
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
}

// A chain of XCLIENTs comes from one peer: the proxy the log and the
// stages see is that peer, not the client the XCLIENT before named
// (127.0.0.5, in xclient_hosts and so allowed the next).
func TestXClientChainProxyIsThePeer(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.0/8"), func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT ADDR=127.0.0.5 PORT=2525", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.4 PORT=4242", "220 mx.test ESMTP")
	waitLog(t, h, "msg=xclient listener=mx client=198.51.100.4 proxy=127.0.0.1 local=")
	d.ehlo()
	p.mu.Lock()
	info := p.lastInfo
	p.mu.Unlock()
	if info.Client != netip.MustParseAddrPort("198.51.100.4:4242") || info.Proxy != tcpAddrPort(d.c.LocalAddr()) {
		t.Errorf("client %v, proxy %v; want 198.51.100.4:4242 and the peer %v", info.Client, info.Proxy, d.c.LocalAddr())
	}
}

// refuseClient is a connect hook that refuses one address.
type refuseClient struct {
	testPolicy
	ip netip.Addr
}

func (p *refuseClient) Connect(ctx context.Context, s *SessionInfo) *reply.Reply {
	p.testPolicy.Connect(ctx, s)
	if s.Client.Addr() == p.ip {
		return &reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Client host rejected"}
	}
	return nil
}

// The client XCLIENT names is checked as a connecting client is: the
// connect hook's refusal, or a per-IP limit's, replaces the new greeting
// and the connection closes; the client counts under its own address.
func TestXClientConnectChecks(t *testing.T) {
	p := &refuseClient{ip: netip.MustParseAddr("192.0.2.66")}
	h := start(t, withXClient("127.0.0.1/32"), withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 1 }),
		func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT ADDR=192.0.2.66", "554 5.7.1 Client host rejected")
	d.expectClosed()
	waitLog(t, h, "connection refused")

	a := h.dialAs("127.0.0.1")
	a.ehlo()
	a.cmd("XCLIENT ADDR=198.51.100.7", "220 mx.test ESMTP")
	// A second connection from the proxy is spared the limit, but not
	// the client it names, already connected through a.
	b := h.dialAs("127.0.0.1")
	b.ehlo()
	b.cmd("XCLIENT ADDR=198.51.100.7", "421 4.7.0 Too many connections from your address, try again later")
	b.expectClosed()
	a.ehlo()
	a.cmd("QUIT", "221 2.0.0 Bye")
}

// xclient_hosts changes at a reload without a new socket, for the next
// EHLO and XCLIENT of the connections already open too.
func TestXClientReload(t *testing.T) {
	h := start(t)
	d := h.dialAs("127.0.0.1")
	if caps := d.ehloCaps(); slices.Contains(caps, xclientKeyword) {
		t.Fatalf("XCLIENT offered without xclient_hosts: %q", caps)
	}
	d.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].XClientHosts = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v", ch, err)
	}
	if caps := d.ehloCaps(); !slices.Contains(caps, xclientKeyword) {
		t.Errorf("XCLIENT not offered after the reload: %q", caps)
	}
	d.cmd("XCLIENT ADDR=192.0.2.1", "220 mx.test ESMTP")
}

// An xclient_hosts peer's own connections (nginx's mail proxy on
// another host, outside relay_networks) are spared max_connections_per_ip
// and connection_rate_per_ip, as Postfix spares its authorized XCLIENT
// hosts: each one carries a different client, which its XCLIENT names
// and which is then counted under its own address. Throttled under the
// proxy's address, every client past the limits got nginx's error.
func TestXClientProxyConnectionsSparedPerIPLimits(t *testing.T) {
	h := start(t, withXClient("127.0.0.1/32"), withLimits(func(l *config.Limits) {
		l.MaxConnectionsPerIP, l.ConnectionRatePerIP = 1, 1
	}))
	var ds []*dialog
	for range 3 { // open, all three at once
		d := h.dialAs("127.0.0.1")
		d.ehlo()
		ds = append(ds, d)
	}
	ds[0].cmd("XCLIENT ADDR=198.51.100.7", "220 mx.test ESMTP")
	ds[1].cmd("XCLIENT ADDR=198.51.100.8", "220 mx.test ESMTP")
	// The client a proxy names is limited as any client.
	ds[2].cmd("XCLIENT ADDR=198.51.100.7", "421 4.7.0 Too many connections from your address, try again later")
	ds[2].expectClosed()
	// Not every peer: 127.0.0.2 is not in xclient_hosts.
	d := newDialog(t, dialFrom(t, "127.0.0.2", h.addr("mx")))
	d.expect("220 mx.test ESMTP")
	d = newDialog(t, dialFrom(t, "127.0.0.2", h.addr("mx")))
	d.expect("421 4.7.0 Too many connections from your address, try again later")
}

// Values are decoded as Postfix's smtpd decodes them: xtext with hex
// digits of either case, and a value that is not xtext taken as sent, as
// Roundcube's smtp_xclient_login sends a user name (first+last@...,
// unencoded). Control characters are refused either way.
func TestXClientValuesAsPostfixDecodesThem(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withXClient("127.0.0.1/32"), func(o *Options) { o.Policy = p })
	d := h.dialAs("127.0.0.1")
	d.ehlo()
	d.cmd("XCLIENT HELO=a+0d+0ab", "501 5.5.4 Bad HELO syntax: a+0d+0ab")
	d.cmd("XCLIENT ADDR=198.51.100.7 HELO=orig+2bhelo.example LOGIN=first+last@example.org", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<first+last@example.org>", "250 2.0.0 Roger, accepting mail from <first+last@example.org>")
	p.mu.Lock()
	info := p.lastInfo
	p.mu.Unlock()
	if info.AuthUser != "first+last@example.org" {
		t.Errorf("user %q, want first+last@example.org", info.AuthUser)
	}
	// HELO= shows in the log alone: the EHLO after it names the session.
	waitLog(t, h, "helo=orig+helo.example user=first+last@example.org")
}

// On a tls_required listener XCLIENT waits for TLS, as in Postfix, whose
// smtpd_tls_security_level = encrypt answers it 530 before STARTTLS: the
// client a proxy names is not taken in the clear, where it would then
// outlive STARTTLS, as in Postfix (the LOGIN does not: RFC 3207 §4.2 has
// what came before TLS forgotten, TestXClientForgottenAtSTARTTLS).
func TestXClientNeedsTLSWhereRequired(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withXClient("127.0.0.1/32"), requireTLS(certFile, keyFile))
	d := h.dial()
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.7 LOGIN=bob", "530 5.7.0 Must issue a STARTTLS command first")
	d.cmd("QUIT", "221 2.0.0 Bye")
	d = h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.cmd("XCLIENT ADDR=198.51.100.7 LOGIN=bob@example.org", "220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<bob@example.org>", "250 2.0.0 Roger, accepting mail from <bob@example.org>")
}

// A refused value of any length is echoed in a reply line of at most 512
// octets (RFC 5321 §4.5.3.1.5), cut and made printable: the reply does
// not rely on go-smtp's bound on the value (255 octets).
func TestXClientRefusalEchoCut(t *testing.T) {
	long := strings.Repeat("\xff", 3000)
	for _, name := range []string{"NAME", "ADDR", "DESTADDR", "PORT", "DESTPORT", "PROTO", "HELO", "LOGIN"} {
		_, r := parseXClient([]smtp.XClientAttr{{Name: name, Value: long}})
		if r == nil {
			t.Fatalf("%s of 3000 octets taken", name)
		}
		line := fmt.Sprintf("%d %d.%d.%d %s\r\n", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
		if len(line) > 512 || !strings.HasSuffix(r.Text, ": "+strings.Repeat("?", maxXClientEcho)+"...") {
			t.Errorf("%s: a reply line of %d octets, ending %q", name, len(line), r.Text[max(0, len(r.Text)-80):])
		}
	}
}
