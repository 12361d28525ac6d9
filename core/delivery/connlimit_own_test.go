package delivery

import (
	"sync"
	"testing"
	"time"
)

// A route's connection_limit= counts its own mail's connections to a
// server address, apart from other mail's, as Postfix counts each
// transport's concurrency: one.test and two.test share an MX host, and
// while a message on one route is held in DATA, one on the other route
// still gets a connection of its own. Counted together, a route with
// connection_limit=1 waited as long as mail for the domains on the
// default route kept a connection open there (forever under steady load),
// and mail on the default route waited behind a route allowed more.
func TestRouteConnectionLimitCountsItsOwnConnections(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string // the routes of the held message and of the next
	}{
		{"lower limit beside the default", "", "mx?connection_limit=1"},
		{"default beside a higher limit", "mx?connection_limit=3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.useDNS(nil,
				"one.test. MX 10 mx.shared.test.", "two.test. MX 10 mx.shared.test.",
				"mx.shared.test. A 127.0.0.2",
			)
			gate := make(chan struct{})
			s := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
			released := sync.OnceFunc(func() { close(gate) })
			defer released()
			h.opt.Config.PerDestination = 1
			h.opt.Config.Workers = 4
			waiting := make(chan struct{})
			var once sync.Once
			h.startWith(func(a *Agent) {
				a.pool.waitHook = func(string, int) { once.Do(func() { close(waiting) }) }
			})
			h.enqueue(routed(tc.first, "s@origin.test", "a@one.test"))
			waitInData(t, s)
			h.enqueue(routed(tc.second, "s@origin.test", "b@two.test"))
			select {
			case <-s.inData:
			case <-waiting:
				t.Error("the second message waited for the first's connection, another route's")
			case <-time.After(waitLimit):
				t.Error("the second message neither waited nor reached DATA")
			}
			released()
			for range 2 {
				waitMsg(t, s)
			}
			if n := s.connections(); n != 2 {
				t.Errorf("%d connections, want one for each route's mail", n)
			}
		})
	}
}
