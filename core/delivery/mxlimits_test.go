package delivery

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// dropper is a TCP server that closes each connection at once, before
// any greeting, as a host whose SMTP service is down behind a load
// balancer does; it counts the connections.
type dropper struct {
	mu    sync.Mutex
	conns int
}

func startDropper(t *testing.T, addr string) *dropper {
	t.Helper()
	d := &dropper{}
	testlib.AcceptEach(t, addr, func(c net.Conn) {
		d.mu.Lock()
		d.conns++
		d.mu.Unlock()
		_ = c.Close()
	})
	return d
}

func (d *dropper) connections() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns
}

// logTo sends the agent's log to the test and to buf.
func (h *harness) logTo(buf *lockedBuffer) {
	h.opt.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{h.t}, buf), nil))
}

// An attempt dials at most mx_address_limit addresses (Postfix's
// smtp_mx_address_limit, 5) over all the MX hosts: a domain of many
// addresses that all fail must not hold a worker for a connect timeout
// each. The recipient stays deferred with 4.4.1, its reply and the log
// naming the limit; the hosts after the limit are not dialled.
func TestMXAddressLimit(t *testing.T) {
	h := newHarness(t)
	rrs := []string{"dest.test. MX 30 mx3.dest.test.", "mx3.dest.test. A 127.0.0.2"}
	var down []*dropper
	for i := range 6 {
		ip := "127.0.0." + strconv.Itoa(10+i)
		host := "mx" + strconv.Itoa(1+i/3) + ".dest.test."
		rrs = append(rrs, host+" A "+ip)
		down = append(down, startDropper(t, net.JoinHostPort(ip, strconv.Itoa(h.port))))
	}
	rrs = append(rrs, "dest.test. MX 10 mx1.dest.test.", "dest.test. MX 20 mx2.dest.test.")
	h.useDNS(nil, rrs...)
	s := h.sinkAt("127.0.0.2", sinkOptions{})
	var log lockedBuffer
	h.logTo(&log)
	h.start()
	id := h.enqueue(msg("", "a@dest.test"))
	r := rcpt(h.recorded(id), "a@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.1 ") || !strings.Contains(r.LastReply, "5 addresses tried (mx_address_limit)") {
		t.Errorf("%+v, want deferred 4.4.1 naming mx_address_limit", r)
	}
	for i, d := range down {
		want := 1
		if i == 5 {
			want = 0
		}
		if n := d.connections(); n != want {
			t.Errorf("address %d dialled %d times, want %d", i+1, n, want)
		}
	}
	if n := s.connections(); n != 0 {
		t.Errorf("the MX past the limit got %d connections", n)
	}
	if !strings.Contains(log.String(), `msg="delivery: attempt limit reached, remaining hosts not tried"`) {
		t.Error("the log does not say why the attempt stopped")
	}
}

// An attempt gives up after mx_session_limit servers (Postfix's
// smtp_mx_session_limit, 2) completed the handshake without taking the
// message; the recipient keeps the last server's reply for the retry.
// With no limit (-1), the same attempt reaches the fourth MX.
func TestMXSessionLimit(t *testing.T) {
	for _, tc := range []struct {
		limit     int
		delivered bool
	}{{0, false}, {-1, true}} {
		t.Run("limit="+strconv.Itoa(tc.limit), func(t *testing.T) {
			h := newHarness(t)
			rrs := []string{"dest.test. MX 40 mx4.dest.test.", "mx4.dest.test. A 127.0.0.2"}
			var busy []*scripted
			for i := range 3 {
				ip := "127.0.0." + strconv.Itoa(20+i)
				n := strconv.Itoa(1 + i)
				rrs = append(rrs, "dest.test. MX "+n+"0 mx"+n+".dest.test.", "mx"+n+".dest.test. A "+ip)
				busy = append(busy, startScripted(t, net.JoinHostPort(ip, strconv.Itoa(h.port)), "220 mx"+n+".dest.test", func(cmd string) string {
					if strings.HasPrefix(cmd, "MAIL ") {
						return "451 4.3.0 mx" + n + " busy"
					}
					return ""
				}))
			}
			h.useDNS(nil, rrs...)
			s := h.sinkAt("127.0.0.2", sinkOptions{})
			h.opt.Config.MXSessionLimit = tc.limit
			h.start()
			id := h.enqueue(msg("", "a@dest.test"))
			r := rcpt(h.recorded(id), "a@dest.test")
			if tc.delivered {
				if r.Status != envelope.RcptDelivered {
					t.Fatalf("%+v, want delivered by the fourth MX", r)
				}
				return
			}
			if r.Status != envelope.RcptPending || r.LastReply != "451 4.3.0 mx2 busy" {
				t.Errorf("%+v, want deferred with mx2's reply", r)
			}
			for i, want := range []int{1, 1, 0} {
				if n := busy[i].connections(); n != want {
					t.Errorf("mx%d: %d connections, want %d", i+1, n, want)
				}
			}
			if n := s.connections(); n != 0 {
				t.Errorf("the MX past the limit got %d connections", n)
			}
		})
	}
}
