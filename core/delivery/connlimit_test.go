package delivery

import (
	"sync"
	"testing"
	"time"
)

// A route's connection_limit= holds its mail to that many connections to
// a server address, below [delivery] per_destination: KumoMTA's
// connection_limit for one provider, the others keeping the default.
func TestRouteConnectionLimit(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
	h.opt.Config.PerDestination = 4
	h.opt.Config.Workers = 4
	waiting := make(chan struct{})
	var once sync.Once
	h.startWith(func(a *Agent) {
		a.pool.waitHook = func(_ string, n int) {
			if n == 2 {
				once.Do(func() { close(waiting) })
			}
		}
	})
	for _, r := range []string{"a@one.test", "b@one.test", "c@one.test"} {
		h.enqueue(routed("mx?connection_limit=1", "s@origin.test", r))
	}
	waitInData(t, s)
	select {
	case <-waiting:
	case <-s.inData:
		t.Error("a second connection reached DATA while the first was in it: connection_limit=1 not kept")
	case <-time.After(waitLimit):
		t.Error("the other two messages neither waited for the connection nor dialled")
	}
	close(gate)
	for range 3 {
		waitMsg(t, s)
	}
	if n := s.connections(); n != 1 {
		t.Fatalf("%d connections, want the one connection_limit=1 allows, reused", n)
	}
}

// A route's messages_per_connection= ends its mail's connections after
// that many transactions, below [delivery] messages_per_connection:
// KumoMTA's max_deliveries_per_connection for one provider.
func TestRouteMessagesPerConnection(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.opt.Config.Workers = 1
	h.opt.Routing.MessagesPerConnection = 100
	h.start()
	for _, r := range []string{"a@one.test", "b@one.test", "c@one.test", "d@one.test", "e@one.test"} {
		h.enqueue(routed("mx?messages_per_connection=2", "s@origin.test", r))
	}
	for range 5 {
		waitMsg(t, s)
	}
	if n := s.connections(); n != 3 {
		t.Fatalf("%d connections for 5 messages at 2 per connection, want 3", n)
	}
}

// A route's messages_per_connection= counts on its mail's own
// connections: two.test shares one.test's MX host, and the route's mail
// does not take a session the default route's mail left idle after
// three transactions, which would carry its fourth, nor leave its own
// to mail counting by [delivery] messages_per_connection.
func TestRouteMessagesPerConnectionOwnSessions(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.shared.test.", "two.test. MX 10 mx.shared.test.",
		"mx.shared.test. A 127.0.0.2")
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	h.opt.Config.Workers = 1
	h.opt.Routing.MessagesPerConnection = 100
	h.start()
	for _, r := range []string{"a@one.test", "b@one.test", "c@one.test"} {
		h.enqueue(routed("", "s@origin.test", r))
		waitMsg(t, s)
	}
	h.enqueue(routed("mx?messages_per_connection=2", "s@origin.test", "d@two.test"))
	waitMsg(t, s)
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2: the route's mail took the default route's session, its fourth transaction", n)
	}
}

// connection_limit= parses on mx and smtp routes (a relay's mail takes
// it from the recipient's mx route), renders in the route's key, and
// takes a positive number only; lmtp does not take it.
func TestParseRouteConnectionLimit(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mx?connection_limit=2", "mx?connection_limit=2"},
		{"mx?messages_per_connection=20&connection_limit=4", "mx?connection_limit=4&messages_per_connection=20"},
		{"mx?messages_per_connection=0", ""},
		{"lmtp:tcp:127.0.0.1:24?messages_per_connection=1", ""},
		{"smtp:[relay.test]:25?connection_limit=5&rate_delay=1s", "smtp:relay.test:25?connection_limit=5&rate_delay=1s"},
		{"mx?connection_limit=0", ""},
		{"mx?connection_limit=-1", ""},
		{"mx?connection_limit=many", ""},
		{"lmtp:tcp:127.0.0.1:24?connection_limit=1", ""},
		{"discard?connection_limit=1", ""},
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
