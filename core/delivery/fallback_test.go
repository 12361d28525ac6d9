package delivery

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// withFallback gives h a fallback relay, a sink on 127.0.0.1 on a port of
// its own, and returns it.
func (h *harness) withFallback(opt sinkOptions) *sink {
	fb := startSink(h.t, "127.0.0.1:0", opt)
	h.opt.Config.FallbackRelay = append(h.opt.Config.FallbackRelay, fb.addr)
	return fb
}

// deliveryEvents reads id's delivery attempts from its trace.
func (h *harness) deliveryEvents(id string) []pipeline.DeliveryEvent {
	h.t.Helper()
	raw, err := h.q.Trace(id)
	if err != nil {
		h.t.Fatal(err)
	}
	var tr pipeline.Trace
	if err := json.Unmarshal(raw, &tr); err != nil {
		h.t.Fatal(err)
	}
	return tr.Deliveries
}

// sentTo reports whether s got a message for addr.
func sentTo(s *sink, addr string) bool {
	for _, m := range s.messages() {
		if slices.Contains(m.rcpts, addr) {
			return true
		}
	}
	return false
}

// An MX host refusing connections: the fallback relay (Postfix's
// smtp_fallback_relay) takes the message. The recipient names it as its
// Remote-MTA, the attempt's log line and trace event say it was used.
func TestFallbackRelayConnectionRefused(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4") // nothing listens there
	fb := h.withFallback(sinkOptions{})
	var log lockedBuffer
	h.logTo(&log)
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, fb); !slices.Equal(got.rcpts, []string{"r@dest.test"}) {
		t.Fatalf("fallback got %q", got.rcpts)
	}
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptDelivered || r.RemoteMTA != "127.0.0.1" || r.Attempts != 1 {
		t.Fatalf("%+v, want delivered by the fallback relay", r)
	}
	_, port, _ := net.SplitHostPort(fb.addr)
	if !strings.Contains(log.String(), `msg="delivery attempt" id=`+id+` dest=dest.test via=127.0.0.1[127.0.0.1]:`+port) ||
		!strings.Contains(log.String(), "fallback_relay="+fb.addr) ||
		!strings.Contains(log.String(), `msg="delivery: trying fallback_relay"`) {
		t.Errorf("the log does not name the fallback relay:\n%s", log.String())
	}
	evs := h.deliveryEvents(id)
	if len(evs) != 1 || evs[0].Fallback != fb.addr || evs[0].Destination != "dest.test" || evs[0].Result != "delivered" {
		t.Errorf("trace %+v, want one delivered attempt naming the fallback relay", evs)
	}
}

// An MX host greeting with 421 is a temporary failure: the fallback
// relay takes the message.
func TestFallbackRelayAfter421Greeting(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	busy := startScripted(t, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.port)), "421 4.3.2 mx1 busy", func(string) string { return "" })
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, fb)
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered by the fallback relay", r)
	}
	if busy.connections() != 1 {
		t.Errorf("the MX got %d connections, want 1", busy.connections())
	}
}

// A 5xx from the MX is final: that recipient is returned and the
// fallback relay never sees it, while one the same server deferred (a
// 4xx to RCPT) goes on to the fallback; the one the MX took is not sent
// again.
func TestFallbackRelayNotFor5xx(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.2")
	mx := h.sinkAt("127.0.0.2", sinkOptions{rcpt: func(addr string, _ int) error {
		switch addr {
		case "no@dest.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "later@dest.test":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "greylisted"}
		}
		return nil
	}})
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "no@dest.test", "later@dest.test", "ok@dest.test"))
	if got := waitMsg(t, mx); !slices.Equal(got.rcpts, []string{"ok@dest.test"}) {
		t.Errorf("MX got %q", got.rcpts)
	}
	if got := waitMsg(t, fb); !slices.Equal(got.rcpts, []string{"later@dest.test"}) {
		t.Errorf("fallback relay got %q, want the deferred recipient only", got.rcpts)
	}
	m := h.recorded(id)
	if r := rcpt(m, "no@dest.test"); r.Status != envelope.RcptFailed || r.LastReply != "550 5.1.1 no such user" {
		t.Errorf("%+v, want failed with the MX's 550", r)
	}
	for _, a := range []string{"later@dest.test", "ok@dest.test"} {
		if r := rcpt(m, a); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
			t.Errorf("%+v, want delivered once", r)
		}
	}
	// The report on no@dest.test (null sender, to origin.test, which only
	// the fallback reaches) may reach the fallback relay meanwhile: only
	// the message's own copies are counted.
	n := 0
	for _, m := range append(mx.messages(), fb.messages()...) {
		if m.from == "s@origin.test" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d copies of the message sent, want 2", n)
	}
}

// A domain that is not found goes to the fallback relay, as Postfix
// tries it before returning the mail: NXDOMAIN, no MX and no address, MX
// hosts without an address. A null MX (RFC 7505) is returned: the domain
// takes no mail, wherever it comes from.
func TestFallbackRelayDomainNotFound(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"nullmx.test. MX 0 .",
		"nohost.test. TXT \"v=spf1 -all\"",
		"noaddr.test. MX 10 mx.nowhere.test.",
	)
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@nowhere.test", "b@nohost.test", "c@noaddr.test", "d@nullmx.test"))
	var got []string
	for range 3 {
		got = append(got, waitMsg(t, fb).rcpts...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a@nowhere.test", "b@nohost.test", "c@noaddr.test"}) {
		t.Errorf("fallback relay got %q", got)
	}
	m := h.recorded(id)
	for _, a := range got {
		if r := rcpt(m, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%+v, want delivered by the fallback relay", r)
		}
	}
	if r := rcpt(m, "d@nullmx.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "556 5.1.10 ") {
		t.Errorf("%+v, want returned for its null MX", r)
	}
	if sentTo(fb, "d@nullmx.test") {
		t.Error("the null MX domain's mail went to the fallback relay")
	}
}

// The fallback relay down too: the recipient is deferred, its reply
// naming both the MX host and the fallback relay; a domain that was not
// found is deferred too, not returned, for the fallback to take later.
func TestFallbackRelayDownToo(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	down := net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)) // nothing listens there either
	h.opt.Config.FallbackRelay = []string{down}
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test", "n@nowhere.test"))
	m := h.recorded(id)
	r := rcpt(m, "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.1 ") ||
		!strings.Contains(r.LastReply, "127.0.0.5[127.0.0.5]:"+strconv.Itoa(h.port)) ||
		!strings.Contains(r.LastReply, "[fallback_relay, after dest.test: 451 4.4.1 ") ||
		!strings.Contains(r.LastReply, "mx1.dest.test[127.0.0.4]:"+strconv.Itoa(h.port)) {
		t.Errorf("%+v, want deferred naming the MX host and the fallback relay", r)
	}
	n := rcpt(m, "n@nowhere.test")
	if n.Status != envelope.RcptPending || !strings.HasPrefix(n.LastReply, "451 4.4.1 ") ||
		!strings.Contains(n.LastReply, "after nowhere.test: 550 5.1.2 Recipient domain does not exist") {
		t.Errorf("%+v, want deferred naming the missing domain", n)
	}
}

// A domain this MTA is an MX host of never goes to the fallback relay,
// which would hand the mail back: it waits for the better MX host. This
// host is known by name (an MX named as its hostname) or by greeting (a
// backup MX that greets as it), and still while the domain is in
// backoff. Another domain's mail still goes.
func TestFallbackRelayNotForOwnMXDomain(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.useDNS(nil,
		"backup.test. MX 10 mx1.backup.test.", "mx1.backup.test. A 127.0.0.4",
		"backup.test. MX 20 mta.sluice.test.", "mta.sluice.test. A 127.0.0.6",
		"greets.test. MX 10 mx1.backup.test.", "greets.test. MX 20 mx2.greets.test.", "mx2.greets.test. A 127.0.0.7",
		"dest.test. MX 10 mx1.backup.test.",
	)
	startScripted(t, net.JoinHostPort("127.0.0.7", strconv.Itoa(h.port)), "220 mta.sluice.test ESMTP", func(string) string { return "" })
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "b@backup.test", "g@greets.test", "r@dest.test"))
	if got := waitMsg(t, fb); !slices.Equal(got.rcpts, []string{"r@dest.test"}) {
		t.Errorf("fallback relay got %q", got.rcpts)
	}
	m := h.recorded(id)
	for _, a := range []string{"b@backup.test", "g@greets.test"} {
		if r := rcpt(m, a); r.Status != envelope.RcptPending || strings.Contains(r.LastReply, "fallback_relay") {
			t.Errorf("%+v, want deferred without the fallback relay", r)
		}
	}
	// Both domains are in backoff now: their mail is still not sent on.
	id = h.enqueue(msg("s@origin.test", "b2@backup.test", "g2@greets.test"))
	m = h.recorded(id)
	for _, a := range []string{"b2@backup.test", "g2@greets.test"} {
		if r := rcpt(m, a); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.5 ") {
			t.Errorf("%+v, want skipped in backoff, not sent to the fallback relay", r)
		}
	}
	if len(fb.messages()) != 1 {
		t.Errorf("the fallback relay got %d messages, want 1", len(fb.messages()))
	}
}

// A destination in backoff sends its mail to the fallback relay at once,
// its MX not dialled again; the fallback relay's own failures put it in
// a backoff of its own, which skips it for every domain.
func TestFallbackRelayBackoff(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	mx := startDropper(t, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.port)))
	fb := h.withFallback(sinkOptions{})
	h.start()
	first := h.enqueue(msg("s@origin.test", "a@dest.test"))
	waitMsg(t, fb)
	if r := rcpt(h.recorded(first), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v", r)
	}
	second := h.enqueue(msg("s@origin.test", "b@dest.test"))
	waitMsg(t, fb)
	if r := rcpt(h.recorded(second), "b@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered by the fallback relay", r)
	}
	if n := mx.connections(); n != 1 {
		t.Errorf("the MX in backoff was dialled %d times, want once", n)
	}
}

// The fallback relay in backoff itself: the recipient keeps its own
// hosts' reply, which says the fallback relay was skipped; a domain not
// found is deferred, not returned, until the fallback relay is tried.
func TestFallbackRelayItselfInBackoff(t *testing.T) {
	h := newHarness(t)
	h.opt.Routing.BackoffAfter = 1
	h.useDNS(nil,
		"one.test. MX 10 mx1.one.test.", "mx1.one.test. A 127.0.0.4",
		"two.test. MX 10 mx1.two.test.", "mx1.two.test. A 127.0.0.4")
	fbDown := startDropper(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)))
	h.opt.Config.FallbackRelay = []string{net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port))}
	h.start()
	first := h.recorded(h.enqueue(msg("s@origin.test", "a@one.test")))
	if r := rcpt(first, "a@one.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "[fallback_relay, after one.test: ") {
		t.Fatalf("%+v", r)
	}
	second := h.recorded(h.enqueue(msg("s@origin.test", "b@two.test")))
	if r := rcpt(second, "b@two.test"); r.Status != envelope.RcptPending || !strings.HasSuffix(r.LastReply, " in backoff]") {
		t.Errorf("%+v, want deferred by its MX, the fallback relay in backoff", r)
	}
	// A domain not found waits for the fallback relay rather than
	// being returned while it is in backoff.
	third := h.recorded(h.enqueue(msg("s@origin.test", "c@nowhere.test")))
	if r := rcpt(third, "c@nowhere.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.5 ") ||
		!strings.Contains(r.LastReply, "after nowhere.test: 550 5.1.2 ") {
		t.Errorf("%+v, want deferred for the fallback relay in backoff", r)
	}
	if n := fbDown.connections(); n != 1 {
		t.Errorf("the fallback relay in backoff was dialled %d times, want once", n)
	}
}

// Several fallback relays are tried in order.
func TestFallbackRelaysInOrder(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.4")
	h.opt.Config.FallbackRelay = []string{"[127.0.0.5]:" + strconv.Itoa(h.port)}
	fb := h.withFallback(sinkOptions{})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, fb)
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered by the second fallback relay", r)
	}
	if evs := h.deliveryEvents(id); len(evs) != 1 || evs[0].Fallback != "127.0.0.5:"+strconv.Itoa(h.port)+","+fb.addr {
		t.Errorf("trace %+v, want both fallback relays named", evs)
	}
}

// The relay's mail falls back too (Postfix's relayhost with
// smtp_fallback_relay); a route rule's smtp: next hop is the operator's
// own choice for those recipients and does not.
func TestFallbackRelayForRelayNotRoutes(t *testing.T) {
	h := newHarness(t)
	down := net.JoinHostPort("127.0.0.4", strconv.Itoa(h.port))
	h.opt.Config.Relay = down
	fb := h.withFallback(sinkOptions{})
	h.start()
	m := msg("s@origin.test", "relayed@dest.test", "routed@dest.test")
	m.Rcpts[1].Route = "smtp:" + down
	id := h.enqueue(m)
	if got := waitMsg(t, fb); !slices.Equal(got.rcpts, []string{"relayed@dest.test"}) {
		t.Errorf("fallback relay got %q", got.rcpts)
	}
	rec := h.recorded(id)
	if r := rcpt(rec, "relayed@dest.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("%+v, want delivered by the fallback relay", r)
	}
	if r := rcpt(rec, "routed@dest.test"); r.Status != envelope.RcptPending || strings.Contains(r.LastReply, "fallback_relay") {
		t.Errorf("%+v, want deferred by its route alone", r)
	}
}

// A REQUIRETLS message goes to a fallback relay only with a certificate
// verified for its name and the extension offered (RFC 8689 §4.2.1, as
// to a relay). One that fails that leaves the message deferred, not
// returned: the domain's own MX may take it later.
func TestFallbackRelayRequireTLS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		verified  bool
		delivered bool
	}{{"verified", true, true}, {"self-signed", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ca := testlib.NewCA(t)
			h := newHarness(t)
			h.useValidatingDNS(nil, nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.4", "fallback.test. A 127.0.0.1")
			h.opt.Routing.RootCAs = ca.Pool()
			cert := testlib.SelfSigned(t, "fallback.test")
			if tc.verified {
				cert = ca.Issue("fallback.test")
			}
			fb := startSink(t, "127.0.0.1:0", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}, requireTLS: true})
			_, port, _ := net.SplitHostPort(fb.addr)
			h.opt.Config.FallbackRelay = []string{"fallback.test:" + port}
			h.start()
			id := h.enqueue(rtlsMsg())
			if tc.delivered {
				if got := waitMsg(t, fb); !got.tls || !got.opts.RequireTLS {
					t.Fatalf("tls %v, MAIL REQUIRETLS %v; want both", got.tls, got.opts.RequireTLS)
				}
			}
			r := rcpt(h.recorded(id), "r@dest.test")
			switch {
			case tc.delivered && r.Status != envelope.RcptDelivered:
				t.Fatalf("%+v, want delivered by the fallback relay", r)
			case !tc.delivered && (r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.10 ")):
				t.Fatalf("%+v, want deferred with 4.7.10", r)
			case !tc.delivered && sentTo(fb, "r@dest.test"):
				t.Fatal("sent to a fallback relay whose certificate does not verify")
			}
		})
	}
}
