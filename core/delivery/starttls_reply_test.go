package delivery

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A server that answers STARTTLS with "220-" lines without end is given
// up after 64 KiB of them, as any other reply is, and the mail goes in
// plaintext on a new connection (opportunistic TLS). The reply was read
// without bound, a byte a read, until the command timeout (5 minutes by
// default), growing the attempt's memory all the while.
func TestEndlessSTARTTLSReplyIsBounded(t *testing.T) {
	addr := testlib.AcceptEach(t, "127.0.0.1:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitLimit))
			r := bufio.NewReader(c)
			say := func(s string) bool { _, err := c.Write([]byte(s + "\r\n")); return err == nil }
			say("220 endless.test")
			inData := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				line = strings.TrimRight(line, "\r\n")
				switch {
				case inData && line != ".":
					continue
				case strings.HasPrefix(line, "EHLO"):
					say("250-endless.test\r\n250 STARTTLS")
				case line == "STARTTLS":
					for say("220-" + strings.Repeat("y", 60)) {
					}
					return
				case line == "DATA":
					inData = say("354 go")
				default:
					inData = false
					say("250 ok")
				}
			}
		}()
	})
	h := newHarness(t)
	h.opt.Config.Relay = addr
	h.start()
	id := h.enqueue(msg("", "a@dest.test"))
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered in plaintext", r)
	}
}
