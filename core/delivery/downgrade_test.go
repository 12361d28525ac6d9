package delivery

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A message received with SMTPUTF8 whose only non-ASCII is in the
// domains of its envelope goes to a server without SMTPUTF8 with those
// domains as A-labels (RFC 6531 §3.2, RFC 5890), not back to the sender
// as 553 5.6.7. A UTF-8 local part, or a UTF-8 header section, still
// needs the extension and fails as before.
func TestSMTPUTF8DowngradesDomainsToALabels(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{noSMTPUTF8: true})
	h.opt.Config.Relay = s.addr
	h.start()

	m := msg("s@Café.test", "r@bücher.test", "plain@dest.test")
	m.SMTPUTF8 = true
	id := h.enqueue(m)
	got := waitMsg(t, s)
	if got.from != "s@xn--caf-dma.test" || !slices.Equal(got.rcpts, []string{"r@xn--bcher-kva.test", "plain@dest.test"}) || got.opts.UTF8 {
		t.Errorf("envelope %q %q %+v, want the domains as A-labels, without SMTPUTF8", got.from, got.rcpts, got.opts)
	}
	rec := h.recorded(id)
	for _, r := range rec.Rcpts {
		if r.Status != envelope.RcptDelivered {
			t.Errorf("%+v, want delivered", r)
		}
	}

	for _, tc := range []struct{ name, to, body string }{
		{"UTF-8 local part", "jörg@bücher.test", testBody},
		{"UTF-8 header", "r@bücher.test", "From: <s@origin.test>\r\nTo: <r@bücher.test>\r\n\r\nhi\r\n"},
		{"not IDNA", "r@a\u00a0b.test", testBody},
	} {
		m := msg("", tc.to)
		m.SMTPUTF8 = true
		id := h.enqueueBody(m, tc.body)
		if r := rcpt(h.recorded(id), tc.to); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "553 5.6.7 ") {
			t.Errorf("%s: %+v, want failed 553 5.6.7", tc.name, r)
		}
	}
	if n := len(s.messages()); n != 1 {
		t.Errorf("%d messages at the sink, want only the first", n)
	}
}

// Over LMTP the replies after DATA come per recipient (RFC 2033 §4.2),
// matched to the address as sent: a domain sent as its A-label must find
// its reply, or a delivered recipient would stay pending and be delivered
// again at every retry.
func TestSMTPUTF8DowngradeOverLMTP(t *testing.T) {
	s := startLMTP(t, "tcp", "127.0.0.1:0", &lmtpServer{reply: func(rc string) error {
		if rc == "full@xn--bcher-kva.test" {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}})
	route := "lmtp:tcp:" + s.addr
	h := newHarness(t)
	h.start()
	m := withRoutes("", "r@bücher.test", route, "full@bücher.test", route)
	m.SMTPUTF8 = true
	rec := h.recorded(h.enqueue(m))
	if r := rcpt(rec, "r@bücher.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("%+v, want delivered", r)
	}
	if r := rcpt(rec, "full@bücher.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "452 4.2.2 ") {
		t.Errorf("%+v, want deferred with the server's 452", r)
	}
}

// A message received without SMTPUTF8 can still come to hold a UTF-8
// address: a stage may add a recipient or change the sender at the data
// hook. Its transaction then needs SMTPUTF8 all the same (RFC 6531 §3.4):
// the parameter is given where offered, the domain goes as an A-label
// where not, and a UTF-8 local part fails 553 5.6.7 there rather than go
// as raw 8-bit octets to a server that never agreed to them.
func TestUTF8AddressNeedsSMTPUTF8WithoutTheFlag(t *testing.T) {
	h := newHarness(t)
	utf8 := startSink(t, "127.0.0.1:0", sinkOptions{})
	plain := startSink(t, "127.0.0.1:0", sinkOptions{noSMTPUTF8: true})
	h.start()
	id := h.enqueue(withRoutes("", "jörg@dest.test", "smtp:"+utf8.addr))
	if got := waitMsg(t, utf8); !got.opts.UTF8 {
		t.Errorf("MAIL %+v, want SMTPUTF8 for a UTF-8 recipient", got.opts)
	}
	h.recorded(id)
	id = h.enqueue(withRoutes("", "r@bücher.test", "smtp:"+plain.addr))
	if got := waitMsg(t, plain); !slices.Equal(got.rcpts, []string{"r@xn--bcher-kva.test"}) || got.opts.UTF8 {
		t.Errorf("delivered to %q with %+v, want the A-label without SMTPUTF8", got.rcpts, got.opts)
	}
	h.recorded(id)
	id = h.enqueue(withRoutes("", "jörg@dest.test", "smtp:"+plain.addr))
	if r := rcpt(h.recorded(id), "jörg@dest.test"); r.Status != envelope.RcptFailed || !strings.HasPrefix(r.LastReply, "553 5.6.7 ") {
		t.Errorf("%+v, want failed 553 5.6.7", r)
	}
	if n := len(plain.messages()); n != 1 {
		t.Errorf("%d messages at the server without SMTPUTF8, want 1", n)
	}
}
