package delivery

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// scripted is a hand-driven SMTP server for replies go-smtp's server
// cannot be made to give (a 421 greeting, a 451 to MAIL): greet is the
// greeting and answer the reply to each command line ("" = a 250; the
// reply to "." ends the data). It counts connections and records commands.
type scripted struct {
	addr string

	mu    sync.Mutex
	conns int
	cmds  []string
}

func startScripted(t *testing.T, addr, greet string, answer func(cmd string) string) *scripted {
	t.Helper()
	s := &scripted{}
	s.addr = testlib.AcceptEach(t, addr, func(c net.Conn) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		go s.serve(c, greet, answer)
	})
	return s
}

func (s *scripted) serve(c net.Conn, greet string, answer func(string) string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	r := bufio.NewReader(c)
	say := func(l string) bool { _, err := c.Write([]byte(l + "\r\n")); return err == nil }
	if !say(greet) || strings.HasPrefix(greet, "421") {
		return
	}
	inData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if inData && line != "." {
			continue
		}
		inData = false
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		rep := answer(line)
		switch {
		case rep == "" && (strings.HasPrefix(strings.ToUpper(line), "EHLO") || strings.HasPrefix(strings.ToUpper(line), "LHLO")):
			rep = "250-scripted.test\r\n250 PIPELINING"
		case rep == "" && strings.ToUpper(line) == "DATA":
			rep = "354 go ahead"
			inData = true
		case rep == "" && strings.ToUpper(line) == "QUIT":
			say("221 bye")
			return
		case rep == "":
			rep = "250 ok"
		}
		if strings.ToUpper(line) == "DATA" && strings.HasPrefix(rep, "3") {
			inData = true // any 3xx (a 350) lets the data come
		}
		if r, ok := strings.CutSuffix(rep, "\r\ndrop"); ok {
			say(r)
			return
		}
		if rep == "drop" || !say(rep) || strings.HasPrefix(rep, "421") {
			return
		}
	}
}

func (s *scripted) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *scripted) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// twoMX gives dest.test a primary MX on 127.0.0.5 and a backup on
// 127.0.0.2.
func twoMX(h *harness) {
	h.useDNS(nil,
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.5",
		"dest.test. MX 20 mx2.dest.test.", "mx2.dest.test. A 127.0.0.2",
	)
}

// A primary MX that answers but takes nothing for now (a 4xx or 421 to
// MAIL, a 421 or a dropped connection among the RCPTs, a 4xx to DATA)
// decided nothing: the backup MX gets the message in the same attempt
// (RFC 5321 §5.1), as Postfix does with a soft error from a server that is
// not the last; so does a greeting that refuses, 554 too (Postfix's
// smtp_skip_5xx_greeting, on by default). A 5xx to MAIL is final and fails the recipient there, as
// in Postfix, and so is a 5xx to RCPT; a 4xx to RCPT defers that
// recipient only (greylisting: the server works).
func TestSiteDeferralTriesTheNextMX(t *testing.T) {
	for _, tc := range []struct {
		name, greet string
		cmd, reply  string // the primary's reply to the command starting with cmd
		backup      bool   // the backup MX gets the message
	}{
		{"451 to MAIL", "220 mx1.test", "MAIL ", "451 4.3.0 local problem", true},
		{"421 to MAIL", "220 mx1.test", "MAIL ", "421 4.3.2 shutting down", true},
		{"MAIL drops the connection", "220 mx1.test", "MAIL ", "drop", true},
		{"421 to RCPT", "220 mx1.test", "RCPT ", "421 4.3.2 shutting down", true},
		{"451 to DATA", "220 mx1.test", "DATA", "451 4.3.0 no spool space", true},
		{"451 to the final dot", "220 mx1.test", ".", "451 4.7.1 content check failed", true},
		{"450 to RCPT", "220 mx1.test", "RCPT ", "450 4.2.0 greylisted", false},
		{"421 greeting", "421 4.3.2 busy", "", "", true},
		{"554 greeting", "554 5.7.1 no service", "", "", true}, // as Postfix's smtp_skip_5xx_greeting
		{"550 to MAIL", "220 mx1.test", "MAIL ", "550 5.7.1 sender refused", false},
		{"550 to RCPT", "220 mx1.test", "RCPT ", "550 5.1.1 no such user", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			twoMX(h)
			primary := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), tc.greet, func(cmd string) string {
				if tc.cmd != "" && strings.HasPrefix(cmd, tc.cmd) {
					return tc.reply
				}
				return ""
			})
			backup := h.sinkAt("127.0.0.2", sinkOptions{})
			h.start()
			id := h.enqueue(msg("", "r@dest.test")) // the null sender: no report
			r := rcpt(h.recorded(id), "r@dest.test")
			if n := len(backup.messages()); (n == 1) != tc.backup {
				t.Errorf("backup MX got %d messages, want it used: %v", n, tc.backup)
			}
			if primary.connections() != 1 {
				t.Errorf("primary MX saw %d connections, want 1", primary.connections())
			}
			if tc.backup && (r.Status != envelope.RcptDelivered || r.Attempts != 1 || r.RemoteMTA != "mx2.dest.test") {
				t.Errorf("%+v, want delivered by the backup at the first attempt", r)
			}
			if !tc.backup && (r.RemoteMTA != "mx1.dest.test" || r.LastReply != tc.reply) {
				t.Errorf("%+v, want the primary's reply %q", r, tc.reply)
			}
		})
	}
}

// A 421 from the primary MX does not put the destination in backoff when
// the backup MX answered and deferred its recipient one by one (it works):
// the next message is tried at once. It was, because the 421 was counted
// wherever the attempt ended.
func TestPrimary421WithWorkingBackupStartsNoBackoff(t *testing.T) {
	h := newHarness(t)
	twoMX(h)
	h.opt.Routing.Backoff = time.Hour
	startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "220 mx1.test", func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL ") {
			return "421 4.3.2 shutting down"
		}
		return ""
	})
	h.sinkAt("127.0.0.2", sinkOptions{rcpt: func(string, int) error {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "greylisted"}
	}})
	h.start()
	first := h.enqueue(msg("", "r@dest.test"))
	if r := rcpt(h.recorded(first), "r@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "450 ") {
		t.Fatalf("first message: %+v, want the backup's 450", r)
	}
	second := h.enqueue(msg("", "s@dest.test"))
	if r := rcpt(h.recorded(second), "s@dest.test"); r.LastReply != "450 4.2.0 greylisted" || r.RemoteMTA != "mx2.dest.test" {
		t.Fatalf("second message: %+v; want it tried (the backup's 450), not held by a backoff (4.4.5)", r)
	}
}

// When no MX is left after a deferred MAIL, the recipient keeps that
// server's reply and the server is its Remote-MTA, not "no server could be
// reached": one answered.
func TestDeferredMAILOnTheLastMXKeepsItsReply(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.5",
		"dest.test. MX 20 mx2.dest.test.", "mx2.dest.test. A 127.0.0.6", // nothing listens there
	)
	startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "220 mx1.test", func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL ") {
			return "451 4.3.0 local problem"
		}
		return ""
	})
	h.start()
	id := h.enqueue(msg("", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || r.LastReply != "451 4.3.0 local problem" || r.RemoteMTA != "mx1.dest.test" {
		t.Fatalf("%+v, want pending with mx1's reply", r)
	}
}

// An LMTP server that gives some recipients their reply after the final
// dot and then drops the connection (RFC 2033 §4.2): the recipients it
// answered get their own reply; one it never answered stays pending with
// the lost connection as its reason, never another recipient's 5xx
// (go-smtp joins the replies read so far into the connection's error).
func TestLMTPConnectionLostAmidTheReplies(t *testing.T) {
	p := startScripted(t, "127.0.0.1:0", "220 lmtp.test", func(cmd string) string {
		if cmd == "." {
			return "250 2.0.0 <a@mail.test> saved\r\n550 5.1.1 <b@mail.test> no such mailbox\r\ndrop"
		}
		return ""
	})
	route := "lmtp:tcp:" + p.addr
	h := newHarness(t)
	h.start()
	id := h.enqueue(withRoutes("", "a@mail.test", route, "b@mail.test", route, "c@mail.test", route))
	rec := h.recorded(id)
	if r := rcpt(rec, "a@mail.test"); r.Status != envelope.RcptDelivered || r.LastReply != "250 2.0.0 <a@mail.test> saved" {
		t.Errorf("a: %+v", r)
	}
	if r := rcpt(rec, "b@mail.test"); r.Status != envelope.RcptFailed || r.LastReply != "550 5.1.1 <b@mail.test> no such mailbox" {
		t.Errorf("b: %+v", r)
	}
	if r := rcpt(rec, "c@mail.test"); r.Status != envelope.RcptPending ||
		!strings.Contains(r.LastReply, "lost connection with") || strings.Contains(r.LastReply, "b@mail.test") {
		t.Errorf("c: %+v, want pending for the lost connection", r)
	}
}

// An MX whose only address is ::1 (AAAA), a domain with no MX whose only
// address is ::1 (the implicit MX, RFC 5321 §5.1) and the address literal
// [IPv6:::1] (RFC 5321 §4.1.3) and a smarthost route to [::1]:PORT: each
// delivered over IPv6.
func TestIPv6OnlyDestinations(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx6.dest.test.", "mx6.dest.test. AAAA ::1",
		"implicit6.test. AAAA ::1")
	ln, err := net.Listen("tcp", net.JoinHostPort("::1", "0"))
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	s := startSink(t, net.JoinHostPort("::1", strconv.Itoa(h.port)), sinkOptions{})
	h.start()
	id := h.enqueue(withRoutes("", "r@dest.test", "", "q@implicit6.test", "", "l@[IPv6:::1]", "",
		"s@smarthost.test", "smtp:"+s.addr))
	rec := h.recorded(id)
	for addr, host := range map[string]string{"r@dest.test": "mx6.dest.test", "q@implicit6.test": "implicit6.test",
		"l@[IPv6:::1]": "::1", "s@smarthost.test": "::1"} {
		if r := rcpt(rec, addr); r.Status != envelope.RcptDelivered || r.RemoteMTA != host {
			t.Errorf("%s: %+v", addr, r)
		}
	}
	if n := len(s.messages()); n != 4 {
		t.Errorf("%d messages over IPv6, want 4", n)
	}
}

// MX hosts without addresses (no A/AAAA, NXDOMAIN) are skipped for the
// next. When every MX host definitely has no address the recipient fails
// at once with 5.4.4 (RFC 5321 §5.1: none usable "MUST be reported as an
// error"; Postfix bounces too); when one lookup failed (SERVFAIL) it is
// deferred.
func TestMXHostsWithoutAddresses(t *testing.T) {
	h := newHarness(t)
	h.useDNS([]string{"broken.halfbad.test"},
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. TXT \"no address\"",
		"dest.test. MX 20 gone.dest.test.",
		"dest.test. MX 30 mx2.dest.test.", "mx2.dest.test. A 127.0.0.2",
		"allbad.test. MX 10 gone.allbad.test.", "allbad.test. MX 20 mx.allbad.test.", "mx.allbad.test. TXT \"no address\"",
		"halfbad.test. MX 10 gone.halfbad.test.", "halfbad.test. MX 20 broken.halfbad.test.",
	)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("", "r@dest.test", "x@allbad.test", "y@halfbad.test"))
	rec := h.recorded(id)
	if r := rcpt(rec, "r@dest.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx2.dest.test" {
		t.Errorf("%+v, want delivered through mx2", r)
	}
	if r := rcpt(rec, "x@allbad.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "550 5.4.4 ") {
		t.Errorf("%+v, want failed 5.4.4", r)
	}
	if r := rcpt(rec, "y@halfbad.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.1 ") {
		t.Errorf("%+v, want deferred 4.4.1", r)
	}
	if n := len(s.messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// cnameZone chases CNAMEs as a recursive resolver does.
type cnameZone map[string][]dns.RR

func (z cnameZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	m := new(dns.Msg)
	m.SetReply(req)
	name := strings.ToLower(q.Name)
	for range 8 {
		found := false
		for _, rr := range z[name] {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
				found = true
			}
		}
		if found {
			break
		}
		var next string
		for _, rr := range z[name] {
			if c, ok := rr.(*dns.CNAME); ok {
				m.Answer = append(m.Answer, c)
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			if len(z[name]) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			break
		}
		name = next
	}
	_ = w.WriteMsg(m)
}

func useCNAMEZone(t *testing.T, h *harness, rrs ...string) {
	z := cnameZone{}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.ToLower(rr.Header().Name)
		z[n] = append(z[n], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: z}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	r, err := dnsresolve.New([]string{pc.LocalAddr().String()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.opt.Resolver = r
}

// An MX target that is a CNAME (RFC 5321 §5.1 forbids it, but it is
// common), a domain that is a CNAME to one with MX records, and a CNAME
// standing in for the implicit MX: a recursive resolver answers with the
// chain, and each is delivered.
func TestCNAMEsOnTheWay(t *testing.T) {
	h := newHarness(t)
	useCNAMEZone(t, h,
		"dest.test. MX 10 alias.dest.test.", "alias.dest.test. CNAME real.dest.test.", "real.dest.test. A 127.0.0.2",
		"cn.test. CNAME other.test.", "other.test. MX 10 real.dest.test.",
		"cnimplicit.test. CNAME real.dest.test.",
	)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("", "r@dest.test", "c@cn.test", "i@cnimplicit.test"))
	rec := h.recorded(id)
	for _, r := range rec.Rcpts {
		if r.Status != envelope.RcptDelivered {
			t.Errorf("%+v, want delivered", r)
		}
	}
	if n := len(s.messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

// A server announcing a SIZE (RFC 1870) below the message's is not sent
// it (§6.1): the recipients fail 552 5.3.4 and no MAIL is sent. Mixed
// replies to RCPT then a 5xx to the final dot: each refused recipient
// keeps its own reply, the accepted ones get the dot's.
func TestSizeAndMixedReplies(t *testing.T) {
	h := newHarness(t)
	small := startScripted(t, "127.0.0.1:0", "220 x.test", func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "250-x.test\r\n250-PIPELINING\r\n250 SIZE 10"
		}
		return ""
	})
	mixed := startScripted(t, "127.0.0.1:0", "220 x.test", func(cmd string) string {
		switch cmd {
		case "RCPT TO:<b@mixed.test>":
			return "450 4.2.1 later"
		case "RCPT TO:<c@mixed.test>":
			return "550 5.1.1 nope"
		case ".":
			return "554 5.6.0 content rejected"
		}
		return ""
	})
	h.start()
	id := h.enqueue(withRoutes("", "a@small.test", "smtp:"+small.addr,
		"a@mixed.test", "smtp:"+mixed.addr, "b@mixed.test", "smtp:"+mixed.addr,
		"c@mixed.test", "smtp:"+mixed.addr, "d@mixed.test", "smtp:"+mixed.addr))
	rec := h.recorded(id)
	for addr, want := range map[string]struct {
		status envelope.RcptStatus
		reply  string
	}{
		"a@small.test": {envelope.RcptFailed, "552 5.3.4 "},
		"a@mixed.test": {envelope.RcptFailed, "554 5.6.0 content rejected"},
		"b@mixed.test": {envelope.RcptPending, "450 4.2.1 later"},
		"c@mixed.test": {envelope.RcptFailed, "550 5.1.1 nope"},
		"d@mixed.test": {envelope.RcptFailed, "554 5.6.0 content rejected"},
	} {
		if r := rcpt(rec, addr); r.Status != want.status || !strings.HasPrefix(r.LastReply, want.reply) {
			t.Errorf("%s: %s %q, want %s %q", addr, r.Status, r.LastReply, want.status, want.reply)
		}
	}
	for _, c := range small.commands() {
		if strings.HasPrefix(c, "MAIL") {
			t.Errorf("MAIL sent to a server whose SIZE the message exceeds")
		}
	}
}

// MX hosts of equal preference are tried in random order (RFC 5321 §5.1
// MUST), drawn from the agent's random source: with one draw the first
// host by name gets the message, with another the second.
func TestEqualPreferenceMXIsRandomized(t *testing.T) {
	for _, tc := range []struct {
		draw float64
		want string // the MX that gets the message
	}{{0.99, "mxa.dest.test"}, {0, "mxb.dest.test"}} {
		h := newHarness(t)
		h.opt.Rand = func() float64 { return tc.draw }
		h.useDNS(nil,
			"dest.test. MX 10 mxa.dest.test.", "mxa.dest.test. A 127.0.0.2",
			"dest.test. MX 10 mxb.dest.test.", "mxb.dest.test. A 127.0.0.3",
			"dest.test. MX 5 mx0.dest.test.", "mx0.dest.test. A 127.0.0.4", // preferred, down
		)
		h.sinkAt("127.0.0.2", sinkOptions{})
		h.sinkAt("127.0.0.3", sinkOptions{})
		h.start()
		id := h.enqueue(msg("", "r@dest.test"))
		if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != tc.want {
			t.Errorf("draw %v: %+v, want delivered by %s", tc.draw, r, tc.want)
		}
	}
}

// Two MX names for one address: the address is tried once in an attempt,
// not once per name (as Postfix drops duplicate addresses).
func TestDuplicateMXAddressIsTriedOnce(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.5",
		"dest.test. MX 20 mx1b.dest.test.", "mx1b.dest.test. A 127.0.0.5",
		"dest.test. MX 30 mx2.dest.test.", "mx2.dest.test. A 127.0.0.2",
	)
	busy := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "421 4.3.2 busy", func(string) string { return "" })
	h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("", "r@dest.test"))
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx2.dest.test" {
		t.Errorf("%+v, want delivered by mx2", r)
	}
	if n := busy.connections(); n != 1 {
		t.Errorf("%d connections to the shared address, want 1", n)
	}
}

// A recipient domain in Unicode (a message received with SMTPUTF8, RFC
// 6531) is looked up in DNS as its A-label (RFC 5890 §2.3.2.1): zones hold
// xn-- names, and the raw UTF-8 name does not exist there. Both the MX
// lookup and the implicit MX's address lookup use it.
func TestUnicodeDomainIsLookedUpAsALabel(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"xn--bcher-kva.test. MX 10 mx.xn--bcher-kva.test.", "mx.xn--bcher-kva.test. A 127.0.0.2",
		"xn--caf-dma.test. A 127.0.0.2", // no MX: the implicit MX
	)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	m := msg("", "r@bücher.test", "q@CAFÉ.test")
	m.SMTPUTF8 = true
	id := h.enqueue(m)
	rec := h.recorded(id)
	for addr, host := range map[string]string{"r@bücher.test": "mx.xn--bcher-kva.test", "q@CAFÉ.test": "xn--caf-dma.test"} {
		if r := rcpt(rec, addr); r.Status != envelope.RcptDelivered || r.RemoteMTA != host {
			t.Errorf("%s: %+v, want delivered by %s", addr, r, host)
		}
	}
	if got := waitMsg(t, s); !got.opts.UTF8 {
		t.Errorf("MAIL without SMTPUTF8: %+v", got.opts)
	}
}

// An MX host that greets with this MTA's own hostname is this MTA (RFC
// 5321 §5.1). As the best MX, the mail has nowhere to go: it fails 5.4.6
// at once instead of going round through our own listener until a limit
// stops it. Behind a better MX that is down, it waits for that one, and
// hosts after ours are not tried. A smarthost is not checked: a content
// filter on the same machine may share the hostname.
func TestMXThatIsThisMTA(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"self.test. MX 10 mx.self.test.", "mx.self.test. A 127.0.0.5",
		"backup.test. MX 10 down.backup.test.", "down.backup.test. A 127.0.0.4", // nothing listens there
		"backup.test. MX 20 mx.self.test.",
		"backup.test. MX 30 mx3.backup.test.", "mx3.backup.test. A 127.0.0.2",
		"implicit.test. A 127.0.0.5",
	)
	self := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "220 MTA.sluice.test ESMTP", func(string) string { return "" })
	after := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(withRoutes("", "a@self.test", "", "b@backup.test", "", "c@implicit.test", "",
		"d@relayed.test", "smtp:"+self.addr))
	rec := h.recorded(id)
	for _, addr := range []string{"a@self.test", "c@implicit.test"} {
		if r := rcpt(rec, addr); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "554 5.4.6 ") {
			t.Errorf("%s: %+v, want failed 5.4.6", addr, r)
		}
	}
	if r := rcpt(rec, "b@backup.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "127.0.0.4") {
		t.Errorf("b: %+v, want deferred for the better MX", r)
	}
	if n := len(after.messages()); n != 0 {
		t.Errorf("the MX after this MTA got %d messages, want none", n)
	}
	if r := rcpt(rec, "d@relayed.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("d: %+v, want delivered to the smarthost", r)
	}
}

// A server reply of any length is kept to maxReplyText, cut at a
// character boundary: it is stored with each recipient, logged and quoted
// in reports.
func TestReplyTextIsBounded(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	got := replyText(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: long + "\n" + long})
	if len(got) > maxReplyText+len("451 4.3.0  [...]") || !strings.HasSuffix(got, " [...]") || !utf8.ValidString(got) {
		t.Fatalf("%d bytes, suffix %q, valid UTF-8 %v", len(got), got[len(got)-8:], utf8.ValidString(got))
	}
	if short := replyText(&smtp.SMTPError{Code: 250, EnhancedCode: smtp.NoEnhancedCode, Message: "ok\nfine"}); short != "250 ok fine" {
		t.Fatalf("short reply %q", short)
	}
}
