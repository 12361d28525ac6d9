package smtpd

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// rateLimits are small [limits] for the min_data_rate tests: a message
// starts with a second to spend waiting for its data, and each byte earns
// a millisecond back.
func rateLimits(l *config.Limits) {
	l.DataTimeout.Duration = time.Second
	l.MinDataRate = 1000
	l.CommandTimeout.Duration = 10 * time.Second
	l.MaxMessageSize = 64 << 10
}

// minRateReply is Postfix's answer to a client past its deadline.
const minRateReply = "421 4.4.2 mx.test Error: timeout exceeded"

// trickle writes s to c, each burst of n bytes after a tick of the
// ticker, until s is spent, a write fails (the server closed) or stop
// is closed. The ticks pace the client; the test waits on the server's
// reply, not on them.
func trickle(c net.Conn, s string, n int, tick time.Duration, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for len(s) > 0 {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			k := min(n, len(s))
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(s[:k])); err != nil {
				return
			}
			s = s[k:]
		}
	}()
	return done
}

// A client that sends DATA a byte every 20 ms never waits data_timeout
// for a read, so data_timeout alone let it hold the session as long as it
// liked (a slowloris). At 50 bytes a second against a min_data_rate of
// 1000 its second runs out after about 50 bytes, well before the 150 it
// has: the reply is Postfix's, and the transaction is logged with it.
func TestMinDataRateDATA(t *testing.T) {
	h := start(t, withLimits(rateLimits))
	slowDATA(t, h)
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
	waitLog(t, h, `reply="421 4.4.2 mx.test Error: timeout exceeded (min_data_rate`)
}

// slowDATA trickles DATA at 50 bytes a second and expects to be cut off.
func slowDATA(t *testing.T, h *harness) {
	t.Helper()
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	stop := make(chan struct{})
	done := trickle(d.c, "Subject: slow\r\n\r\n"+strings.Repeat("x", 133), 1, 20*time.Millisecond, stop)
	d.expect(minRateReply)
	d.expectClosed()
	close(stop)
	<-done
}

// A reload that turns min_data_rate on applies it to the connections
// made after it, as it does the timeouts (go-smtp holds it).
func TestMinDataRateReload(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		rateLimits(l)
		l.MinDataRate = -1
	}))
	next := *h.cfg
	next.Limits.MinDataRate = 1000
	h.srv.SetLimits(&next)
	slowDATA(t, h)
}

// The deadline is the whole message's, not each BDAT chunk's (Postfix's
// is per request): five bytes a chunk, a byte every 20 ms, spend about
// 100 ms of the second each, so about the eleventh chunk is cut off.
// With a new second per chunk the client would go on for ever, a chunk
// at a time, past the 30 sent here. A loaded machine only makes the
// chunks slower, cutting one off sooner; the first is cut off only if
// it takes ten times its time.
func TestMinDataRateBDATWholeMessage(t *testing.T) {
	h := start(t, withLimits(rateLimits))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	const most = 30
	chunks := 0
	for ; chunks < most; chunks++ {
		d.send("BDAT 5")
		stop := make(chan struct{})
		done := trickle(d.c, "01234", 1, 20*time.Millisecond, stop)
		l := d.line()
		close(stop)
		<-done
		if l == minRateReply {
			break
		}
		if l != "250 2.0.0 Continue" {
			t.Fatalf("chunk %d: got %q", chunks+1, l)
		}
	}
	if chunks == 0 || chunks == most {
		t.Fatalf("cut off after %d whole chunks, want some but not all %d", chunks, most)
	}
	d.expectClosed()
	if n := len(h.messages()); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
	waitLog(t, h, `by=min_data_rate`)
}

// A client faster than min_data_rate earns its time back: 125 bytes every
// 50 ms (2500 a second) for two seconds, twice data_timeout in all, is
// queued. Each wait is a twentieth of data_timeout, so only a loaded
// machine's pause of a second between two writes would cut it off.
func TestMinDataRateFastEnough(t *testing.T) {
	h := start(t, withLimits(rateLimits))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	body := "Subject: steady\r\n\r\n" + strings.Repeat(strings.Repeat("y", 98)+"\r\n", 50) + ".\r\n"
	stop := make(chan struct{})
	defer close(stop)
	done := trickle(d.c, body, 125, 50*time.Millisecond, stop)
	d.queued()
	<-done
}

// min_data_rate = -1 turns it off: the trickle of TestMinDataRateDATA,
// ended, is queued.
func TestMinDataRateOff(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) {
		rateLimits(l)
		l.MinDataRate = -1
	}))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	stop := make(chan struct{})
	defer close(stop)
	done := trickle(d.c, "Subject: slow\r\n\r\n"+strings.Repeat("x", 73)+"\r\n.\r\n", 1, 20*time.Millisecond, stop)
	d.queued()
	<-done
}
