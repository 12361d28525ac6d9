package delivery

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A reply to the final dot that is neither a 2xx nor a refusal (a 1xx, a
// 3xx, a code past 5xx: RFC 5321 §4.2.1 has no such reply there) leaves
// it unknown whether the server took the message, as a reply that never
// came does: the recipient is deferred, said to be perhaps delivered
// twice, and the message goes to no other MX in the same attempt. It was
// taken for a 4xx refusal, and the backup MX got a second copy.
func TestOddReplyToTheDotIsNoRefusal(t *testing.T) {
	for _, code := range []string{"354 send more", "600 what", "199 hm"} {
		t.Run(code, func(t *testing.T) {
			h := newHarness(t)
			twoMX(h)
			startScripted(t, net.JoinHostPort("127.0.0.5", strconv.Itoa(h.port)), "220 mx1.test", func(cmd string) string {
				if cmd == "." {
					return code
				}
				return ""
			})
			backup := h.sinkAt("127.0.0.2", sinkOptions{})
			h.start()
			id := h.enqueue(msg("", "r@dest.test"))
			r := rcpt(h.recorded(id), "r@dest.test")
			if r.Status != envelope.RcptPending || r.RemoteMTA != "mx1.dest.test" || !strings.Contains(r.LastReply, "more than once") {
				t.Errorf("%s %q via %s, want deferred by mx1, perhaps delivered twice", r.Status, r.LastReply, r.RemoteMTA)
			}
			if n := len(backup.messages()); n != 0 {
				t.Errorf("backup MX got %d messages, want none", n)
			}
		})
	}
}
