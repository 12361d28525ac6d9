package delivery

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// rcptList is n recipient addresses at domain, numbered from 1.
func rcptList(n int, domain string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%03d@%s", i+1, domain)
	}
	return out
}

// batches is how many recipients each of msgs carried.
func batches(msgs []sinkMsg) []int {
	var out []int
	for _, m := range msgs {
		out = append(out, len(m.rcpts))
	}
	return out
}

// 120 recipients for one destination go, under the default
// recipients_per_transaction (50, Postfix's
// default_destination_recipient_limit), in transactions of 50, 50 and
// 20, in order, one after another on one connection; each is delivered
// once, at the first attempt.
func TestRecipientsPerTransactionSplits(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	all := rcptList(120, "dest.test")
	id := h.enqueue(msg("s@origin.test", all...))
	var got []string
	for _, want := range []int{50, 50, 20} {
		m := waitMsg(t, s)
		if len(m.rcpts) != want {
			t.Fatalf("transaction of %d recipients, want %d", len(m.rcpts), want)
		}
		got = append(got, m.rcpts...)
	}
	if !slices.Equal(got, all) {
		t.Errorf("recipients sent %q, want each once in order", got)
	}
	rec := h.recorded(id)
	for _, a := range all {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered || r.Attempts != 1 {
			t.Fatalf("%s: %+v, want delivered at the first attempt", a, r)
		}
	}
	if n := s.connections(); n != 1 {
		t.Errorf("%d connections, want the three transactions on one", n)
	}
	if n := len(s.messages()); n != 3 {
		t.Errorf("%d transactions, want 3", n)
	}
}

// recipients_per_transaction = -1 puts every recipient of a destination
// in one transaction, as Postfix's 0.
func TestRecipientsPerTransactionNoLimit(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = -1
	h.start()
	id := h.enqueue(msg("s@origin.test", rcptList(120, "dest.test")...))
	if m := waitMsg(t, s); len(m.rcpts) != 120 {
		t.Fatalf("transaction of %d recipients, want all 120", len(m.rcpts))
	}
	if rec := h.recorded(id); !rec.Done() {
		t.Errorf("after the attempt: %+v, want done", rec)
	}
}

// A route's transport takes its own recipient_limit=, as main.cf's
// TRANSPORT_destination_recipient_limit does for a master.cf transport:
// an smtp: route's, an mx route's through [delivery] relay (as its
// rate_delay= goes along), and -1 lifting [delivery]'s.
func TestRouteRecipientLimit(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	smart := startSink(t, "127.0.0.1:0", sinkOptions{})
	free := startSink(t, "127.0.0.1:0", sinkOptions{})
	h.opt.Config.Relay = relay.addr
	h.opt.Config.RecipientsPerTransaction = 4
	h.start()
	var pairs []string
	for _, a := range rcptList(5, "smart.test") {
		pairs = append(pairs, a, "smtp:"+smart.addr+"?recipient_limit=2")
	}
	for _, a := range rcptList(7, "slow.test") {
		pairs = append(pairs, a, "mx?recipient_limit=3")
	}
	for _, a := range rcptList(6, "plain.test") {
		pairs = append(pairs, a, "")
	}
	for _, a := range rcptList(6, "free.test") {
		pairs = append(pairs, a, "smtp:"+free.addr+"?recipient_limit=-1")
	}
	id := h.enqueue(withRoutes("s@origin.test", pairs...))
	if rec := h.recorded(id); !rec.Done() {
		t.Fatalf("after the attempt: %+v, want done", rec)
	}
	if got := batches(smart.messages()); !slices.Equal(got, []int{2, 2, 1}) {
		t.Errorf("smtp: route ?recipient_limit=2: transactions of %v, want [2 2 1]", got)
	}
	// The relay carries the mx route's recipients (3 3 1) and the
	// default route's ([delivery]'s 4: 4 2), one destination after the
	// other in order of first appearance.
	if got := batches(relay.messages()); !slices.Equal(got, []int{3, 3, 1, 4, 2}) {
		t.Errorf("relay: transactions of %v, want [3 3 1 4 2]", got)
	}
	if got := batches(free.messages()); !slices.Equal(got, []int{6}) {
		t.Errorf("?recipient_limit=-1: transactions of %v, want [6]", got)
	}
}

// LMTP takes the limit as SMTP does: [delivery]'s, or the route's
// recipient_limit=, the one route parameter lmtp: takes; each
// transaction's recipients get their own replies.
func TestLMTPRecipientLimit(t *testing.T) {
	ok := func(string) error { return nil }
	for _, c := range []struct {
		param string
		want  []int
	}{{"", []int{3, 3, 1}}, {"?recipient_limit=2", []int{2, 2, 2, 1}}} {
		s := startLMTP(t, "tcp", "127.0.0.1:0", &lmtpServer{reply: ok})
		h := newHarness(t)
		h.opt.Config.RecipientsPerTransaction = 3
		h.start()
		route := "lmtp:tcp:" + s.addr + c.param
		var pairs []string
		all := rcptList(7, "mail.test")
		for _, a := range all {
			pairs = append(pairs, a, route)
		}
		id := h.enqueue(withRoutes("s@origin.test", pairs...))
		rec := h.recorded(id)
		for _, a := range all {
			if r := rcpt(rec, a); r.Status != envelope.RcptDelivered || !strings.HasPrefix(r.LastReply, "250 ") {
				t.Errorf("%s: %s: %+v, want delivered", route, a, r)
			}
		}
		s.mu.Lock()
		got := batches(s.got)
		var sent []string
		for _, m := range s.got {
			sent = append(sent, m.rcpts...)
		}
		s.mu.Unlock()
		if !slices.Equal(got, c.want) || !slices.Equal(sent, all) {
			t.Errorf("%s: transactions of %v (%q), want %v in order", route, got, sent, c.want)
		}
	}
}

// A transaction the server defers (451 to its data) leaves the
// transactions before it delivered and does not stop those after it on
// the connection; the retry sends its recipients alone.
func TestRecipientLimitLaterTransactionDeferred(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{data: func(n int) error {
		if n == 2 {
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 2
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test", "e@dest.test"))
	rec := h.recorded(id)
	for a, want := range map[string]envelope.RcptStatus{
		"a@dest.test": envelope.RcptDelivered, "b@dest.test": envelope.RcptDelivered,
		"c@dest.test": envelope.RcptPending, "d@dest.test": envelope.RcptPending,
		"e@dest.test": envelope.RcptDelivered,
	} {
		r := rcpt(rec, a)
		if r.Status != want || r.Attempts != 1 {
			t.Errorf("%s: %+v, want %s after 1 attempt", a, r, want)
		}
		if want == envelope.RcptPending && !strings.HasPrefix(r.LastReply, "451 4.3.0 try later") {
			t.Errorf("%s: reply %q, want the server's 451", a, r.LastReply)
		}
	}
	if got := batches(s.messages()); !slices.Equal(got, []int{2, 1}) || s.connections() != 1 {
		t.Fatalf("transactions taken %v on %d connections, want [2 1] on one", got, s.connections())
	}
	h.retryAfter(5 * time.Minute)
	if rec := h.recorded(id); !rec.Done() {
		t.Fatalf("after the retry: %+v, want done", rec)
	}
	msgs := s.messages()
	if len(msgs) != 3 || !slices.Equal(msgs[2].rcpts, []string{"c@dest.test", "d@dest.test"}) {
		t.Fatalf("the retry sent %q, want c and d alone", msgs[len(msgs)-1].rcpts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, n := range s.rcptN {
		if want := map[bool]int{false: 1, true: 2}[a == "c@dest.test" || a == "d@dest.test"]; n != want {
			t.Errorf("%s sent %d times, want %d", a, n, want)
		}
	}
}

// A connection lost after the final dot of the second transaction (the
// server may have its recipients, RFC 1047) leaves those of the first
// delivered, never sent again; the third goes on a new connection, and
// the retry sends the second's recipients alone.
func TestRecipientLimitLostFinalReply(t *testing.T) {
	h := newHarness(t)
	var s *sink
	s = h.sinkAt("127.0.0.1", sinkOptions{data: func(n int) error {
		if n == 2 {
			s.hangUp()
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 2
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test", "e@dest.test"))
	rec := h.recorded(id)
	for _, a := range []string{"a@dest.test", "b@dest.test", "e@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s: %+v, want delivered", a, r)
		}
	}
	for _, a := range []string{"c@dest.test", "d@dest.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "may be delivered more than once") {
			t.Errorf("%s: %+v, want pending after the lost reply", a, r)
		}
	}
	h.retryAfter(5 * time.Minute)
	if rec := h.recorded(id); !rec.Done() {
		t.Fatalf("after the retry: %+v, want done", rec)
	}
	msgs := s.messages()
	if got := batches(msgs); !slices.Equal(got, []int{2, 1, 2}) || !slices.Equal(msgs[2].rcpts, []string{"c@dest.test", "d@dest.test"}) {
		t.Fatalf("transactions taken %v, the retry's %q; want [2 1 2], c and d", got, msgs[len(msgs)-1].rcpts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range []string{"a@dest.test", "b@dest.test", "e@dest.test"} {
		if n := s.rcptN[a]; n != 1 {
			t.Errorf("%s sent %d times, want once", a, n)
		}
	}
}

// What one transaction delivered is saved before the next: a crash
// during the second must not send the first's recipients again. The
// state read while the second is under way is what a kill -9 would
// leave (every queue write is a synced commit).
func TestRecipientLimitSavesEachTransaction(t *testing.T) {
	h := newHarness(t)
	entered, resume := make(chan struct{}), make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "c@dest.test" && n == 1 {
			entered <- struct{}{}
			<-resume
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 2
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test"))
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("no second transaction")
	}
	m, err := h.q.Get(id)
	close(resume)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"a@dest.test", "b@dest.test"} {
		if r := rcpt(m, a); r.Status != envelope.RcptDelivered {
			t.Errorf("%s during the second transaction: %+v, want saved as delivered", a, r)
		}
	}
	if r := rcpt(m, "c@dest.test"); r.Status == envelope.RcptDelivered {
		t.Error("c@dest.test saved as delivered before its transaction ended")
	}
	if rec := h.recorded(id); !rec.Done() {
		t.Errorf("after the attempt: %+v, want done", rec)
	}
}

// A server refusing recipients for the transaction's size (452 4.5.3)
// within a batch gets them in the next transaction, ahead of the
// recipients no transaction carried yet, the batches still at most the
// limit.
func TestRecipientLimitWithTooMany(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "c@dest.test" && n == 1 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 3
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test", "e@dest.test", "f@dest.test"))
	if rec := h.recorded(id); !rec.Done() {
		t.Fatalf("after the attempt: %+v, want done", rec)
	}
	var got [][]string
	for _, m := range s.messages() {
		got = append(got, m.rcpts)
	}
	want := [][]string{{"a@dest.test", "b@dest.test"}, {"c@dest.test", "d@dest.test", "e@dest.test"}, {"f@dest.test"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("transactions %q, want %q", got, want)
	}
}

// recipient_limit= parses on mx, smtp and lmtp routes, renders in the
// route's key, and takes a positive number or -1; lmtp takes no other
// parameter.
func TestParseRouteRecipientLimit(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mx?recipient_limit=10", "mx?recipient_limit=10"},
		{"smtp:relay.test:25?recipient_limit=-1&tls=verify", "smtp:relay.test:25?recipient_limit=-1&tls=verify"},
		{"lmtp:unix:/run/dovecot/lmtp?recipient_limit=1", "lmtp:unix:/run/dovecot/lmtp?recipient_limit=1"},
		{"lmtp:inet:127.0.0.1?recipient_limit=20", "lmtp:tcp:127.0.0.1:24?recipient_limit=20"},
		{"mx?recipient_limit=0", ""},
		{"mx?recipient_limit=-2", ""},
		{"mx?recipient_limit=ten", ""},
		{"mx?recipient_limit=", ""},
		{"discard?recipient_limit=1", ""},
		{"lmtp:unix:/run/dovecot/lmtp?tls=required", ""},
		{"lmtp:tcp:127.0.0.1:24?rate_delay=1s", ""},
	} {
		r, err := ParseRoute(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%q: parsed as %q, want an error", c.in, r)
		case c.want != "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.want != "" && r.String() != c.want:
			t.Errorf("%q: %q, want %q", c.in, r, c.want)
		}
	}
}

// Each transaction counts towards messages_per_connection: with a limit
// of 1 recipient and 2 transactions a connection, 5 recipients take 5
// transactions on 3 connections.
func TestRecipientLimitMessagesPerConnection(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.opt.Config.RecipientsPerTransaction = 1
	h.opt.Routing.MessagesPerConnection = 2
	h.start()
	id := h.enqueue(msg("s@origin.test", rcptList(5, "dest.test")...))
	if rec := h.recorded(id); !rec.Done() {
		t.Fatalf("after the attempt: %+v, want done", rec)
	}
	if got := batches(s.messages()); !slices.Equal(got, []int{1, 1, 1, 1, 1}) || s.connections() != 3 {
		t.Errorf("transactions of %v on %d connections, want five of 1 on 3", got, s.connections())
	}
}
