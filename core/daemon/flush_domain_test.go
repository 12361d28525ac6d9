package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// The daemon's admin API flushes one domain as sluice queue flush
// --domain asks: that domain's message is sent at once, its destination's
// backoff (a 421 started it) forgotten, and the other domain's message,
// its destination in backoff too, keeps its next attempt.
func TestFlushDomainThroughDaemon(t *testing.T) {
	port := freePort(t)
	sinkA := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	sinkB := testlib.NewSink(t, fmt.Sprintf("127.0.0.3:%d", port))
	closing := func(string) error {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}
	}
	sinkA.OnRcpt(closing)
	sinkB.OnRcpt(closing)
	dns := testlib.NewDNS(t,
		"a.test. 60 IN MX 10 mx.a.test.", "mx.a.test. 60 IN A 127.0.0.2",
		"b.test. 60 IN MX 10 mx.b.test.", "mx.b.test. 60 IN A 127.0.0.3",
	)
	// A backoff longer than the test, so that only forgetting it lets
	// a.test's mail through.
	d := startDaemon(t, fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\nbackoff = \"1h\"\n", dns.Addr, port))
	send := func(rcpt string) string {
		res, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{rcpt},
			testlib.Message("alice@sluice.test", rcpt, "flush", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		return chaosQueued(res)
	}
	idA, idB := send("bob@a.test"), send("carol@b.test")
	tried := func(m *envelope.Message) bool { return m.Attempts == 1 }
	waitMessage(t, d, idA, "a first attempt", tried)
	b := waitMessage(t, d, idB, "a first attempt", tried)
	sinkA.OnRcpt(nil)
	sinkB.OnRcpt(nil)
	connsB := sinkB.Conns()

	r, _, err := admin.NewClient(d.AdminAddr().String(), "").FlushDomain("a.test")
	if err != nil || r.Count != 1 {
		t.Fatalf("flush a.test: %+v %v", r, err)
	}
	sinkA.WaitN(t, 1, 10*time.Second)
	if m, err := d.Queue().Get(idB); err != nil || !m.NextAttempt.Equal(b.NextAttempt) || sinkB.Conns() != connsB {
		t.Fatalf("b.test's message after a.test's flush: %+v %v, %d connections; want its next attempt %v kept, no connection",
			m, err, sinkB.Conns()-connsB, b.NextAttempt)
	}
}
