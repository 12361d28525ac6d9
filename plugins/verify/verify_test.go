package verify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// hop is a test's next hop: a go-smtp server on loopback that takes the
// users it knows, refuses the others (550 5.1.1), and records what the
// probes asked it.
type hop struct {
	addr string
	srv  *smtp.Server

	mu    sync.Mutex
	users map[string]bool
	temp  bool          // 451 to every RCPT
	gate  chan struct{} // when set, RCPT waits until it is closed
	// arrived, when set, is told each RCPT TO as it comes, before gate.
	arrived chan<- string
	rcpts   []string // every RCPT TO, in order
	froms   []string // every MAIL FROM
	helos   []string // the EHLO (LHLO) name of each MAIL
	tls     []bool   // whether each RCPT came under TLS
	datas   int      // DATA commands: a probe must send none
	conns   int      // connections: one a probe, whatever it was told
}

// newHop starts a next hop (LMTP when lmtp) knowing users.
func newHop(t *testing.T, lmtp bool, tlsConf *tls.Config, users ...string) *hop {
	t.Helper()
	return newHopWith(t, func(s *smtp.Server) { s.LMTP, s.TLSConfig = lmtp, tlsConf }, users...)
}

// newHopWith starts a next hop knowing users, its server set up by setup.
func newHopWith(t *testing.T, setup func(*smtp.Server), users ...string) *hop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hop{addr: ln.Addr().String(), users: map[string]bool{}}
	for _, u := range users {
		h.users[u] = true
	}
	h.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		h.mu.Lock()
		h.conns++
		h.mu.Unlock()
		return &hopSession{h: h, c: c}, nil
	}))
	h.srv.Domain = "mailbox.test"
	h.srv.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.ReadTimeout, h.srv.WriteTimeout = 10*time.Second, 10*time.Second
	setup(h.srv)
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Close() })
	return h
}

func (h *hop) set(f func(h *hop)) { h.mu.Lock(); f(h); h.mu.Unlock() }

// asked returns the RCPTs the hop was asked so far.
func (h *hop) asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.rcpts...)
}

type hopSession struct {
	h    *hop
	c    *smtp.Conn
	utf8 bool // MAIL declared SMTPUTF8
}

func (s *hopSession) Reset()        {}
func (s *hopSession) Logout() error { return nil }
func (s *hopSession) Mail(from string, o *smtp.MailOptions) error {
	s.utf8 = o != nil && o.UTF8
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.froms = append(s.h.froms, from)
	s.h.helos = append(s.h.helos, s.c.Hostname())
	return nil
}

func (s *hopSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	gate, arrived := s.h.gate, s.h.arrived
	_, tlsOn := s.c.TLSConnectionState()
	s.h.rcpts = append(s.h.rcpts, to)
	s.h.tls = append(s.h.tls, tlsOn)
	s.h.mu.Unlock()
	if arrived != nil {
		arrived <- to
	}
	if gate != nil {
		<-gate
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	switch {
	case !s.utf8 && !isASCII(to):
		// Postfix's smtpd (RFC 6531 §3.4).
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Must declare SMTPUTF8 to send unicode address"}
	case s.h.temp:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "directory unavailable"}
	case !s.h.users[to]:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: to + ": no mailbox here by that name"}
	}
	return nil
}

func (s *hopSession) Data(io.Reader) error {
	s.h.mu.Lock()
	s.h.datas++
	s.h.mu.Unlock()
	return errors.New("a probe sends no data")
}

// clock is a settable clock: tests move time instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// stage is a plugin served over real gRPC, as the core calls it.
type stage struct {
	t *testing.T
	c *sdk.Client
}

// Rcpt calls the rcpt hook for addr, failing the test on an error or a
// reply Sluice would not send as it is.
func (s stage) Rcpt(tx *sdk.Txn, addr string) sdk.Verdict {
	s.t.Helper()
	v, err := s.c.Hook(context.Background(), sdk.HookRcpt, tx, &sdk.Recipient{Addr: addr}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if p := v.ReplyProblem(); p != "" {
		s.t.Errorf("reply %+v: %s", v.Reply, p)
	}
	return v
}

// serve runs p with configJSON and the state directory dir ("" none),
// on a core whose hostname is mx.sluice.test.
func serve(t *testing.T, p *Plugin, configJSON, dir string) stage {
	t.Helper()
	c, err := start(t, p, configJSON, dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start is serve that returns Init's error.
func start(t *testing.T, p *Plugin, configJSON, dir string) (stage, error) {
	t.Helper()
	t.Setenv(EnvHostname, "mx.sluice.test")
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	c := sdktest.Connect(t, p)
	c.SetStateDir(dir)
	_, err := c.Init(context.Background(), sdktest.Stage, []byte(configJSON))
	t.Cleanup(func() {
		if p.cache != nil {
			_ = p.cache.close()
		}
	})
	return stage{t, c}, err
}

func hopConfig(h *hop, extra string) string {
	return fmt.Sprintf(`{"next_hop": "[127.0.0.1]:%s"%s}`, h.addr[strings.LastIndexByte(h.addr, ':')+1:], extra)
}

var txn = sdktest.NewTxn("sender@origin.test")

func wantVerdict(t *testing.T, what string, v sdk.Verdict, action sdk.Action, code int, enhanced string) {
	t.Helper()
	if v.Action != action {
		t.Fatalf("%s: %v (%s), want %v", what, v.Action, v.Reason, action)
	}
	if code == 0 {
		return
	}
	if v.Reply == nil || v.Reply.Code != code || v.Reply.Enhanced != enhanced {
		t.Fatalf("%s: reply %+v, want %d %s", what, v.Reply, code, enhanced)
	}
}

func wantAsked(t *testing.T, h *hop, want ...string) {
	t.Helper()
	if got := h.asked(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the next hop was asked %q, want %q", got, want)
	}
}

// A known recipient goes on; an unknown one gets Postfix's default 450
// 4.1.1, or 550 5.1.1 with reject_code = 550, a text that names neither
// the next hop nor its words, which the reason carries. The probe says
// EHLO with the core's hostname, comes from double-bounce@ it, and sends
// no data.
func TestKnownAndUnknown(t *testing.T) {
	nh := newHop(t, false, nil, "alice@example.org")
	h := serve(t, &Plugin{}, hopConfig(nh, ""), "")
	v := h.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "known", v, sdk.ActionContinue, 0, "")
	if !strings.Contains(v.Reason, "deliverable") {
		t.Errorf("known: reason %q", v.Reason)
	}
	v = h.Rcpt(txn, "bob@example.org")
	wantVerdict(t, "unknown", v, sdk.ActionTempfail, 450, "4.1.1")
	if want := "<bob@example.org>: Recipient address rejected: undeliverable address: refused by the next mail server"; v.Reply.Text != want {
		t.Errorf("unknown: text %q, want %q", v.Reply.Text, want)
	}
	if !strings.Contains(v.Reason, "550 5.1.1 bob@example.org: no mailbox here by that name") {
		t.Errorf("unknown: reason %q lacks the next hop's reply", v.Reason)
	}
	wantAsked(t, nh, "alice@example.org", "bob@example.org")
	nh.mu.Lock()
	froms, helos, datas := nh.froms, nh.helos, nh.datas
	nh.mu.Unlock()
	if froms[0] != "double-bounce@mx.sluice.test" || helos[0] != "mx.sluice.test" || datas != 0 {
		t.Errorf("probe from %q helo %q with %d DATA, want double-bounce@mx.sluice.test, mx.sluice.test, none", froms[0], helos[0], datas)
	}

	h550 := serve(t, &Plugin{}, hopConfig(nh, `, "reject_code": 550, "sender": "<>", "helo": "gw.example.org"`), "")
	wantVerdict(t, "reject_code 550", h550.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	nh.mu.Lock()
	from, helo := nh.froms[len(nh.froms)-1], nh.helos[len(nh.helos)-1]
	nh.mu.Unlock()
	if from != "" || helo != "gw.example.org" {
		t.Errorf("sender <> helo gw.example.org: probe from %q helo %q", from, helo)
	}
}

// A second RCPT for an address is answered from what the first probe
// found: the next hop is asked once for each, deliverable or not, and
// whatever the case of the domain.
func TestSecondRcptFromCache(t *testing.T) {
	nh := newHop(t, false, nil, "alice@example.org")
	h := serve(t, &Plugin{}, hopConfig(nh, `, "reject_code": 550`), "")
	for range 3 {
		wantVerdict(t, "known", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
		wantVerdict(t, "unknown", h.Rcpt(txn, "bob@Example.ORG"), sdk.ActionReject, 550, "5.1.1")
	}
	v := h.Rcpt(txn, "bob@example.org")
	if !strings.Contains(v.Reason, "answer of 0s ago") {
		t.Errorf("cached: reason %q", v.Reason)
	}
	wantAsked(t, nh, "alice@example.org", "bob@Example.ORG")
}

// A next hop that cannot be reached, or answers 4xx, leaves the
// recipient unverified: 450 4.1.1, or through with tempfail_action =
// "accept". With tempfail_refresh_time = "0s" nothing is kept of it:
// the next RCPT asks again (tempfail_test.go: what is kept otherwise).
func TestNextHopDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	h := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": %q}`, down), "")
	v := h.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "down", v, sdk.ActionTempfail, 450, "4.1.1")
	if !strings.Contains(v.Reply.Text, "unverified address") || !strings.Contains(v.Reason, "unverified") {
		t.Errorf("down: %q / %q", v.Reply.Text, v.Reason)
	}
	ha := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": %q, "tempfail_action": "accept"}`, down), "")
	v = ha.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "down, accept", v, sdk.ActionContinue, 0, "")
	if !strings.Contains(v.Reason, "tempfail_action = accept") {
		t.Errorf("down, accept: reason %q", v.Reason)
	}

	nh := newHop(t, false, nil, "alice@example.org")
	nh.set(func(h *hop) { h.temp = true })
	h = serve(t, &Plugin{}, hopConfig(nh, `, "tempfail_refresh_time": "0s"`), "")
	v = h.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "451", v, sdk.ActionTempfail, 450, "4.1.1")
	if !strings.Contains(v.Reason, "451") {
		t.Errorf("451: reason %q", v.Reason)
	}
	nh.set(func(h *hop) { h.temp = false })
	wantVerdict(t, "after the 451", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "alice@example.org", "alice@example.org")
}

// RCPTs for one address while its probe is under way wait for that
// probe: the next hop is asked once.
func TestConcurrentRcptsOneProbe(t *testing.T) {
	nh := newHop(t, false, nil, "alice@example.org")
	verdicts, _ := rcptsDuringOneProbe(t, nh, 5)
	for i, v := range verdicts {
		wantVerdict(t, fmt.Sprintf("rcpt %d", i), v, sdk.ActionContinue, 0, "")
	}
	wantAsked(t, nh, "alice@example.org")
}

// rcptsDuringOneProbe serves a stage asking nh and sends it n RCPTs for
// alice@example.org at once, each from a session of its own, holding
// nh's answer until every one of them waits for the probe under way
// (Plugin.waiting). It returns their verdicts and the stage.
func rcptsDuringOneProbe(t *testing.T, nh *hop, n int) ([]sdk.Verdict, stage) {
	t.Helper()
	gate := make(chan struct{})
	nh.set(func(h *hop) { h.gate = gate })
	waiting := make(chan string, n)
	p := &Plugin{waiting: func(a string) { waiting <- a }}
	h := serve(t, p, hopConfig(nh, ""), "")
	var wg sync.WaitGroup
	verdicts := make([]sdk.Verdict, n)
	for i := range n {
		wg.Go(func() {
			tx := sdktest.NewTxn("sender@origin.test")
			tx.Session.ID = fmt.Sprintf("s%d", i)
			verdicts[i] = h.Rcpt(tx, "alice@example.org")
		})
	}
	for range n {
		select {
		case <-waiting:
		case <-time.After(10 * time.Second):
			close(gate)
			t.Fatal("the RCPTs did not all wait for a probe")
		}
	}
	close(gate)
	wg.Wait()
	return verdicts, h
}

// Only the recipients of domains are asked about (".example.org" its
// subdomains), never postmaster (RFC 5321 §4.5.1), and neither AUTH nor
// relay_networks clients' by default.
func TestDomainsAndSkips(t *testing.T) {
	nh := newHop(t, false, nil)
	h := serve(t, &Plugin{}, hopConfig(nh, `, "domains": ["example.org", ".example.net"], "reject_code": 550`), "")
	for _, a := range []string{"x@example.com", "x@sub.example.org", "x@example.net", "postmaster", "PostMaster@example.org"} {
		wantVerdict(t, a, h.Rcpt(txn, a), sdk.ActionContinue, 0, "")
	}
	wantAsked(t, nh)
	wantVerdict(t, "domain", h.Rcpt(txn, "x@EXAMPLE.org."), sdk.ActionReject, 550, "5.1.1")
	wantVerdict(t, "subdomain", h.Rcpt(txn, "y@a.example.net"), sdk.ActionReject, 550, "5.1.1")

	auth := sdktest.NewTxn("sender@origin.test")
	auth.Session.AuthUser = "alice"
	relay := sdktest.NewTxn("sender@origin.test")
	relay.Session.RelayClient = true
	wantVerdict(t, "authenticated", h.Rcpt(auth, "z@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "relay client", h.Rcpt(relay, "z@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "x@EXAMPLE.org.", "y@a.example.net")

	hs := serve(t, &Plugin{}, hopConfig(nh, `, "skip_authenticated": false, "skip_relay_clients": false, "reject_code": 550`), "")
	wantVerdict(t, "authenticated, not skipped", hs.Rcpt(auth, "z@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantVerdict(t, "relay client, not skipped", hs.Rcpt(relay, "w@example.org"), sdk.ActionReject, 550, "5.1.1")
}

// An LMTP next hop is asked with LHLO, over TCP.
func TestLMTPNextHop(t *testing.T) {
	nh := newHop(t, true, nil, "alice@example.org")
	h := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": "lmtp:tcp:%s", "reject_code": 550}`, nh.addr), "")
	wantVerdict(t, "known", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "unknown", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantAsked(t, nh, "alice@example.org", "bob@example.org")
}
