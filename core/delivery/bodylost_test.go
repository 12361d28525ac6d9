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

// A next hop that closes the connection in the middle of the data (the
// peer kit's script did so after the third line of a 5 MiB message)
// leaves the recipient deferred with a reply that says what happened, as
// Postfix's "lost connection with HOST while sending message body", not a
// bare "write tcp 127.0.0.1:42624->127.0.0.1:2649: write: connection reset
// by peer" in the queue and the delay report.
func TestConnectionLostDuringBodyIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		stall       bool
	}{
		{"reset", "lost connection with 127.0.0.1 while sending the message body: ", false},
		// A server that stops reading is given up after command_timeout
		// per block (RFC 5321 §4.5.3.2.5).
		{"stall", "conversation with 127.0.0.1 timed out while sending the message body: ", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testBodyLost(t, tc.stall, tc.reply) })
	}
}

func testBodyLost(t *testing.T, stall bool, want string) {
	h := newHarness(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	addr := testlib.AcceptEach(t, "127.0.0.1:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			fmt.Fprint(c, "220 peer.test ESMTP\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
				case strings.HasPrefix(cmd, "EHLO"):
					fmt.Fprint(c, "250-peer.test\r\n250 PIPELINING\r\n")
				case cmd == "DATA":
					fmt.Fprint(c, "354 go ahead\r\n")
					_, _ = r.ReadString('\n')
					if stall {
						<-stop
						return
					}
					// A reset, not a FIN: the body's writes fail at once.
					_ = c.(*net.TCPConn).SetLinger(0)
					return
				default:
					fmt.Fprint(c, "250 ok\r\n")
				}
			}
		}()
	})
	h.opt.Config.Relay = addr
	if stall {
		h.opt.Config.CommandTimeout.Duration = 200 * time.Millisecond
	}
	h.start()
	// Larger than the loopback socket buffers, so that the server's reset
	// comes while the body is being written.
	body := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 16<<20/78)
	id := h.enqueueBody(msg("", "a@dest.test"), body)
	r := rcpt(h.recorded(id), "a@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, want) {
		t.Fatalf("%+v, want deferred, naming the lost connection", r)
	}
}
