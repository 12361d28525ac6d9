package delivery

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A server that refuses in its greeting (554 as RFC 5321 §3.1 allows, or
// 421) gave its own reply: the recipient it leaves deferred records that
// reply, code and text, with the server as its Remote-MTA, and its line
// and its report say so (Diagnostic-Code smtp; the status of a deferral,
// 4.7.1 for a 554 5.7.1, as Postfix's "host … refused to talk to me").
// The server's word beats a later MX host that could not be reached. As
// in Postfix (smtp_skip_5xx_greeting = yes), a 5xx greeting defers: the
// attempt went on to the next MX, and the recipient waits. Before, the
// recipient got Sluice's "451 4.4.1 No mail server could be reached"
// quoting the reply, as X-Sluice with no Remote-MTA.
func TestGreetingRefusalIsTheServersReply(t *testing.T) {
	for _, tc := range []struct {
		name, greet, dsn string
	}{
		{"554", "554 5.7.1 no service", "4.7.1"},
		{"421", "421 4.3.2 too busy", "4.3.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.useDNS(nil,
				"dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.5",
				"dest.test. MX 20 mx2.dest.test.", "mx2.dest.test. A 127.0.0.6", // nothing listens there
				"origin.test. MX 10 mx.origin.test.", "mx.origin.test. A 127.0.0.2",
			)
			refusing := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), tc.greet, func(string) string { return "" })
			origin := h.sinkAt("127.0.0.2", sinkOptions{})
			h.opt.Bounce.DelayWarning = time.Hour
			logs := newLogWatch(h)
			h.start()
			id := h.enqueueAged(msg("s@origin.test", "r@dest.test"), 2*time.Hour) // its delay warning is due

			r := rcpt(h.recorded(id), "r@dest.test")
			if r.Status != envelope.RcptPending || r.LastReply != tc.greet || r.RemoteMTA != "mx1.dest.test" {
				t.Errorf("recorded %s %q Remote-MTA %q, want pending %q Remote-MTA mx1.dest.test", r.Status, r.LastReply, r.RemoteMTA, tc.greet)
			}
			via := "mx1.dest.test[127.0.0.5]:" + strconv.Itoa(h.port)
			l := logs.wait(t, rcptLineRE(id, "r@dest.test"), 1)[0]
			if attr(l, "via") != via || attr(l, "status") != "deferred" || attr(l, "dsn") != tc.dsn || attr(l, "reply") != tc.greet {
				t.Errorf("recipient line %s, want via=%s status=deferred dsn=%s reply=%q", l, via, tc.dsn, tc.greet)
			}
			a := logs.wait(t, regexp.MustCompile(`msg="delivery attempt" id=`+id), 1)[0]
			if attr(a, "via") != via || attr(a, "reply") != tc.greet {
				t.Errorf("attempt line %s, want via=%s reply=%q", a, via, tc.greet)
			}

			d := waitReport(t, origin)
			b := d.rcpt(t, "r@dest.test")
			for k, want := range map[string]string{
				"Action":          "delayed",
				"Status":          tc.dsn,
				"Remote-MTA":      "dns; mx1.dest.test",
				"Diagnostic-Code": "smtp; " + tc.greet,
			} {
				if got := b.Get(k); got != want {
					t.Errorf("report's %s: %q, want %q", k, got, want)
				}
			}
			if n := refusing.connections(); n != 1 {
				t.Errorf("the refusing server saw %d connections, want 1", n)
			}
		})
	}
}

// A refusal in the greeting still counts against the destination as one
// that could not be reached (no server there serves mail), though the
// recipients now keep the server's reply and name it: with backoff_after
// = 1 the next message finds the destination in backoff and is not sent
// to that server again.
func TestGreetingRefusalStartsBackoff(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "dest.test. MX 10 mx1.dest.test.", "mx1.dest.test. A 127.0.0.5")
	refusing := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "554 5.7.1 no service", func(string) string { return "" })
	h.opt.Routing.BackoffAfter = 1
	h.opt.Routing.Backoff = time.Hour
	h.start()
	first := h.enqueue(msg("", "a@dest.test"))
	if r := rcpt(h.recorded(first), "a@dest.test"); r.LastReply != "554 5.7.1 no service" {
		t.Fatalf("first message: %+v, want the server's 554", r)
	}
	second := h.enqueue(msg("", "b@dest.test"))
	if r := rcpt(h.recorded(second), "b@dest.test"); !strings.HasPrefix(r.LastReply, "451 4.4.5 ") {
		t.Errorf("second message: %+v, want it held by the backoff (4.4.5)", r)
	}
	if n := refusing.connections(); n != 1 {
		t.Errorf("the refusing server saw %d connections, want 1", n)
	}
}
