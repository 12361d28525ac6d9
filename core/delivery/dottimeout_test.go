package delivery

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A server that takes the data and never answers the final dot leaves the
// recipient deferred with a reply saying the conversation timed out and
// the message may arrive twice, as Postfix's "conversation with HOST timed
// out while sending end of data -- message may be sent more than once",
// over SMTP and LMTP. It said "lost connection", which it was not.
func TestNoReplyToTheDotIsATimeout(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	addr := testlib.AcceptEach(t, "127.0.0.1:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			fmt.Fprint(c, "220 mute.test\r\n")
			inData := false
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
				case inData && cmd != ".":
				case cmd == ".":
					<-stop
					return
				case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "LHLO"):
					fmt.Fprint(c, "250-mute.test\r\n250 PIPELINING\r\n")
				case cmd == "DATA":
					inData = true
					fmt.Fprint(c, "354 go ahead\r\n")
				default:
					fmt.Fprint(c, "250 ok\r\n")
				}
			}
		}()
	})
	h := newHarness(t)
	h.opt.Config.CommandTimeout.Duration = 200 * time.Millisecond
	h.start()
	id := h.enqueue(withRoutes("", "a@smtp.test", "smtp:"+addr, "b@lmtp.test", "lmtp:tcp:"+addr))
	rec := h.recorded(id)
	for _, a := range []string{"a@smtp.test", "b@lmtp.test"} {
		r := rcpt(rec, a)
		if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "conversation with 127.0.0.1 timed out after end of data, the message may be delivered more than once") {
			t.Errorf("%s: %s %q, want deferred for the timeout", a, r.Status, r.LastReply)
		}
	}
}
