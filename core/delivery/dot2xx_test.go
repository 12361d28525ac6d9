package delivery

import (
	"net"
	"strconv"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Any 2xx to the final dot (RFC 5321 §4.2.1: "2yz Positive Completion
// reply") means the server took the message, as Postfix's smtp client
// reads it (code / 100 == 2): the recipient is delivered and the backup
// MX gets nothing; the reply kept is the server's, 251 and all. go-smtp's client wanted 250 exactly: a "251" was a
// temporary refusal of the message, sent on to the next MX in the same
// attempt and retried at the first MX after it, each time delivered.
func TestAny2xxToTheDotDelivers(t *testing.T) {
	h := newHarness(t)
	twoMX(h)
	primary := startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "220 mx1.test", func(cmd string) string {
		if cmd == "." {
			return "251 2.0.0 queued as 12345"
		}
		return ""
	})
	backup := h.sinkAt("127.0.0.2", sinkOptions{})
	h.start()
	id := h.enqueue(msg("", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptDelivered || r.RemoteMTA != "mx1.dest.test" || r.LastReply != "251 2.0.0 queued as 12345" {
		t.Errorf("%s %q via %s, want delivered by mx1", r.Status, r.LastReply, r.RemoteMTA)
	}
	if n := len(backup.messages()); n != 0 || primary.connections() != 1 {
		t.Errorf("backup got %d messages, primary %d connections; want 0 and 1", n, primary.connections())
	}
}
