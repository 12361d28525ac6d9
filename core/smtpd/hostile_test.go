package smtpd

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A hostile client on loopback, attack by attack. For each: no panic, the
// connection closed within a bound, every reply line well formed (a code,
// CRLF, at most 512 octets: checkReply), message data memory given back,
// no goroutine or descriptor left once the attacker has gone, and a
// well-behaved client served meanwhile. Limits are small so that abuse is
// cheap.

// attacker is a raw client whose replies a replyWatch reads and checks;
// the test closes it itself, before its leak check, not at cleanup.
type attacker struct {
	t *testing.T
	c net.Conn
	w *replyWatch
}

func attack(t *testing.T, h *harness) *attacker {
	t.Helper()
	c, err := net.Dial("tcp", h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, c: c, w: watch(c)}
}

// write sends s; a failure is no error, as the server may close while a
// flood is still being written.
func (a *attacker) write(s string) {
	_ = a.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = a.c.Write([]byte(s))
}

// closed waits for the server to close the connection, checks the
// replies, and closes our end.
func (a *attacker) closed() *replyWatch {
	a.t.Helper()
	a.w.wait(a.t, 5*time.Second)
	_ = a.c.Close()
	return a.w
}

// goodClient sends one message as a well-behaved client does.
func goodClient(t *testing.T, h *harness) {
	t.Helper()
	d := dialConn(t, h.addr("mx"))
	d.expect("220 mx.test ESMTP")
	d.ehlo()
	d.cmd("MAIL FROM:<good@example.org>", "250 2.0.0 Roger, accepting mail from <good@example.org>")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: hi\r\n\r\nhello\r\n.\r\n")
	d.queued()
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()
	_ = d.c.Close()
}

// hostileServer starts a server with no per-IP limits (every attacker
// is 127.0.0.1) and long timeouts, which the attacks that must end at a
// timeout shorten for themselves (hurried), returns what the process
// holds with the listener alone, and serves one good client. The attacks write
// ahead of the replies, which forbid_unauth_pipelining would end at
// their first command (TestPipeliningFlood): it is off, as the defences
// tested here must hold without it.
func hostileServer(t *testing.T, f func(*config.Limits)) (*harness, resources) {
	t.Helper()
	h := start(t, withPipelining(false), withLimits(func(l *config.Limits) {
		l.CommandTimeout.Duration, l.DataTimeout.Duration = longTimeout, longTimeout
		l.MaxConnectionsPerIP, l.ConnectionRatePerIP = -1, -1
		l.MessageRatePerIP.PerMinute, l.MessageRatePerSender.PerMinute = -1, -1
		if f != nil {
			f(l)
		}
	}))
	before := held(t) // the listener alone
	goodClient(t, h)
	return h, before
}

const (
	greetAndMail = "EHLO x\r\nMAIL FROM:<a@example.org>\r\n"
	inTxn        = greetAndMail + "RCPT TO:<b@example.org>\r\n"
	tooManyErrs  = "421 4.7.0 Too many errors, closing connection"
)

// Ten thousand commands in one write end at max_errors, and the client
// reads the 421 that says so. It did not: the server closed with the rest
// of the flood unread, the kernel reset the connection, and the reset
// threw away the last replies, the 421 among them (conn.linger).
func TestHostilePipelinedFloods(t *testing.T) {
	h, before := hostileServer(t, nil)
	for _, c := range []struct{ name, setup, flood string }{
		{"RCPT over max_recipients", greetAndMail, "RCPT TO:<r%d@example.org>\r\n"},
		{"NOOP", "EHLO x\r\n", "NOOP\r\n"},
		{"RSET", "EHLO x\r\n", "RSET\r\n"},
		{"BDAT 0 LAST", inTxn, "BDAT 0 LAST\r\n"},
		{"unknown before EHLO", "", "XYZZY\r\n"},
	} {
		a := attack(t, h)
		var b strings.Builder
		b.WriteString(c.setup)
		for i := range 10000 {
			b.WriteString(strings.ReplaceAll(c.flood, "%d", strconv.Itoa(i)))
		}
		a.write(b.String())
		if w := a.closed(); w.last() != tooManyErrs {
			t.Errorf("%s flood: %d replies, the last %q (then %v), want %q", c.name, len(w.lines), w.last(), w.err, tooManyErrs)
		}
		goodClient(t, h)
	}
	before.settled(t)
}

// A client that pipelined past the reply ending its session, and reads
// only once the server is done with it, reads every reply and then the
// end of the stream, not a reset: the server left none of its input
// unread when it closed (a reset can also throw away replies, as in
// TestHostilePipelinedFloods).
func TestHostileClosingReplyNotReset(t *testing.T) {
	h, before := hostileServer(t, func(l *config.Limits) { l.MaxErrors = 3 })
	c, err := net.Dial("tcp", h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Repeat("XYZZY\r\n", 2000))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { h.srv.mu.Lock(); defer h.srv.mu.Unlock(); return len(h.srv.conns) == 0 })
	w := watch(c)
	w.wait(t, 5*time.Second)
	want := []string{"220 mx.test ESMTP"}
	for range 3 {
		want = append(want, "500 5.5.2 Syntax errors, XYZZY command unrecognized")
	}
	want = append(want, tooManyErrs)
	if strings.Join(w.lines, "|") != strings.Join(want, "|") || !errors.Is(w.err, io.EOF) {
		t.Fatalf("read %q, then %v; want %q, then EOF", w.lines, w.err, want)
	}
	_ = c.Close()
	before.settled(t)
}

// A command line of exactly max_line_length octets (its CRLF included) is
// a command; one more octet ends the session. A greeting longer than a
// domain can be (RFC 5321 §4.5.3.1.2) is refused, not echoed in a reply
// line over 512 octets.
func TestHostileLineLimit(t *testing.T) {
	h, before := hostileServer(t, nil) // max_line_length 1000
	pad := func(n int) string { return "NOOP " + strings.Repeat("x", n-len("NOOP \r\n")) + "\r\n" }
	a := attack(t, h)
	a.write("EHLO x\r\n" + pad(1000) + pad(1001))
	w := a.closed()
	if got := w.lines[len(w.lines)-2:]; got[0] != "250 2.0.0 I have successfully done nothing" || got[1] != "500 5.5.2 Too long line, closing connection" {
		t.Errorf("lines of 1000 and 1001 octets: %q", got)
	}

	a = attack(t, h)
	a.write("EHLO " + strings.Repeat("a", 990) + "\r\nHELO " + strings.Repeat("b", 256) + "\r\nQUIT\r\n")
	w = a.closed()
	if want := []string{"220 mx.test ESMTP", "501 5.5.2 Domain/address argument too long for EHLO",
		"501 5.5.2 Domain/address argument too long for HELO", "221 2.0.0 Bye"}; strings.Join(w.lines, "|") != strings.Join(want, "|") {
		t.Errorf("long greetings: %q, want %q", w.lines, want)
	}
	goodClient(t, h)
	before.settled(t)
}

// A client that sends and never reads its replies: once they fill the
// socket buffers the server's write blocks, command_timeout ends it, and
// the session is closed. The server's send buffer on loopback grows to
// megabytes, so it answers a few hundred thousand NOOPs before its write
// blocks: about 2 s alone, but over 10 s once in a full race-enabled
// `make test` on 2 cores. The bound is for a server that never stops.
func TestHostileNeverReads(t *testing.T) {
	h, before := hostileServer(t, func(l *config.Limits) { l.MaxJunkCommands = -1 })
	// command_timeout, 500 ms here, bounds the server's blocked write.
	noops := strings.Repeat("NOOP\r\n", 10000)
	c := hurried(t, h, noops)
	_ = c.(*net.TCPConn).SetReadBuffer(64 << 10) // replies back up sooner
	_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	var err error
	for {
		if _, err = c.Write([]byte(noops)); err != nil {
			break
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server neither read nor closed in 60 s")
	}
	_ = c.Close()
	goodClient(t, h)
	before.settled(t)
}

// Slowloris: a byte every 100 ms keeps no command line open past
// command_timeout (500 ms), and the server serves others meanwhile. The
// line takes 1.9 s to send: a 421 in place of EHLO's reply shows it cut
// off before its end, where a deadline renewed at each read would let
// it through and answer it, with no clock read by the test.
func TestHostileSlowloris(t *testing.T) {
	h, before := hostileServer(t, nil)
	a := hurriedAttack(t, h, "")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range []byte("EHLO slow.example\r\n") {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := a.c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	goodClient(t, h)
	w := a.closed()
	close(stop)
	<-done
	if want := []string{"421 4.4.2 Idle timeout, bye bye"}; strings.Join(w.lines, "|") != strings.Join(want, "|") {
		t.Errorf("slowloris read %q after the greeting, want %q", w.lines, want)
	}
	before.settled(t)
}

// DATA of 64 MiB in a single line without CRLF, past max_message_size
// (4096): read and dropped as it comes, in constant memory, then 552.
func TestHostileEndlessDataLine(t *testing.T) {
	h, before := hostileServer(t, nil)
	a := attack(t, h)
	a.write(inTxn + "DATA\r\n")
	chunk := []byte(strings.Repeat("x", 1<<20))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range 64 {
		if _, err := a.c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 4<<20 {
		t.Errorf("64 MiB of one line allocated %d KiB", alloc>>10)
	}
	a.write("\r\n.\r\nQUIT\r\n")
	w := a.closed()
	if got := w.lines[len(w.lines)-2:]; got[0] != "552 5.3.4 Message size exceeds fixed maximum message size" || got[1] != "221 2.0.0 Bye" {
		t.Errorf("after 64 MiB of one line: %q", got)
	}
	if n := h.srv.dataMem.used.Load(); n != 0 {
		t.Errorf("%d octets of max_data_memory still held", n)
	}
	before.settled(t)
}

// BDAT declaring more than it sends ends at data_timeout; one declaring
// more than a 32-bit count ends at once; nothing is held after.
func TestHostileBDATDeclaredSize(t *testing.T) {
	h, before := hostileServer(t, nil)
	for _, c := range []struct{ cmd, last string }{
		{"BDAT 4000 LAST", "421 4.4.2 Timeout waiting for data, closing connection"},
		{"BDAT 4000", "421 4.4.2 Timeout waiting for data, closing connection"},
		{"BDAT 1000000000 LAST", "421 4.4.2 Timeout waiting for data, closing connection"}, // over max_message_size: drained
		{"BDAT 99999999999999 LAST", "552 5.3.4 Max message size exceeded, closing connection"},
	} {
		a := hurriedAttack(t, h, inTxn+c.cmd+"\r\nSubject: x\r\n") // data_timeout 500 ms
		if w := a.closed(); w.last() != c.last {
			t.Errorf("%s and 11 octets: %q, want %q", c.cmd, w.last(), c.last)
		}
	}
	goodClient(t, h)
	waitFor(t, func() bool { return h.srv.dataMem.used.Load() == 0 })
	before.settled(t)
}

// A client that shuts its sending side mid-message: the message is not
// queued, and what it held is given back; one that shuts it after a
// whole message has it queued and answered.
func TestHostileHalfClose(t *testing.T) {
	h, before := hostileServer(t, nil)
	for _, c := range []struct{ input, last string }{
		{inTxn + "DATA\r\nSubject: x\r\n\r\nhalf", "421 4.4.0 Connection error, sorry"},
		{inTxn + "BDAT 100\r\nSubject: x\r\n\r\nhalf", "421 4.4.0 Connection error, sorry"},
		{inTxn + "BDAT 10\r\n0123456789", "250 2.0.0 Continue"},
		{"EHLO x\r\nNOOP", "250 LIMITS RCPTMAX=3 MAILMAX=100"},
		{inTxn + "DATA\r\nSubject: x\r\n\r\nwhole\r\n.\r\n", "250 2.0.0 Ok: queued as *"},
	} {
		a := attack(t, h)
		a.write(c.input)
		_ = a.c.(*net.TCPConn).CloseWrite()
		w := a.closed()
		if p, ok := strings.CutSuffix(c.last, "*"); !strings.HasPrefix(w.last(), p) || !ok && w.last() != c.last {
			t.Errorf("%q, then shutdown: %q, want %q", c.input, w.last(), c.last)
		}
	}
	if n := len(h.messages()); n != 2 { // the good client's and the whole one
		t.Errorf("%d messages queued, want 2", n)
	}
	goodClient(t, h)
	waitFor(t, func() bool { return h.srv.dataMem.used.Load() == 0 })
	before.settled(t)
}

// STARTTLS followed by anything but a TLS handshake, and AUTH abused:
// a 1 MiB response (on the command line or after 334) is a line too
// long, a response never sent ends at command_timeout. The attacks are
// hurried sessions, with the client's part of the TLS handshake the one
// step of theirs that waits on the test.
func TestHostileTLSAndAuth(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withPipelining(false), withUsers(t, map[string]string{"u": "p"}), withLimits(func(l *config.Limits) {
		l.CommandTimeout.Duration = longTimeout
		l.MaxConnectionsPerIP, l.ConnectionRatePerIP = -1, -1
	}))
	before := held(t)
	goodClient(t, h)
	for _, after := range []string{strings.Repeat("garbage\r\n", 1000), ""} {
		a := hurriedAttack(t, h, "EHLO x\r\nSTARTTLS\r\n"+after)
		if w := a.closed(); w.last() != "220 2.0.0 Ready to start TLS" {
			t.Errorf("STARTTLS then %.20q: the server said %q after its 220", after, w.last())
		}
	}
	blob := strings.Repeat("QUFB", 256<<10) // 1 MiB of base64
	for _, c := range []struct{ input, last string }{
		{"AUTH PLAIN " + blob + "\r\n", "500 5.5.2 Too long line, closing connection"},
		// RFC 4954 §6: an AUTH response too long is 5.5.6.
		{"AUTH PLAIN\r\n" + blob + "\r\n", "500 5.5.6 Authentication Exchange line is too long, closing connection"},
		{"AUTH PLAIN\r\n", "421 4.4.2 Idle timeout, bye bye"},
		{"AUTH LOGIN\r\n", "421 4.4.2 Idle timeout, bye bye"},
		{"AUTH LOGIN\r\n" + b64("u") + "\r\n", "421 4.4.2 Idle timeout, bye bye"},
	} {
		d := newDialog(t, hurried(t, h, "EHLO x\r\nSTARTTLS\r\n"))
		for l := d.line(); l != "220 2.0.0 Ready to start TLS"; l = d.line() {
			if !strings.HasPrefix(l, "250") {
				t.Fatalf("EHLO, STARTTLS: %q", l)
			}
		}
		_ = d.c.SetReadDeadline(time.Time{}) // the watch's wait bounds it
		tc := tls.Client(d.c, clientTLS)
		_ = tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = tc.Write([]byte("EHLO x\r\n" + c.input)) // the handshake first
		w := watch(tc)
		w.wait(t, 5*time.Second)
		_ = tc.Close()
		if w.last() != c.last {
			t.Errorf("%.30q: %q, want %q", c.input, w.last(), c.last)
		}
	}
	goodClient(t, h)
	before.settled(t)
}

// Connections past max_connections get 421 at once, while the accept
// loop goes on; once the holders leave, a client is served. At once
// with no clock read: command_timeout is a minute here (hostileServer),
// so a refusal that waited on the client, or an accept loop that waited
// for a slot, would run past each refused connection's 5 s (closed); and
// the holders, which send nothing, hold their slots throughout.
func TestHostileConnectionFlood(t *testing.T) {
	h, before := hostileServer(t, func(l *config.Limits) { l.MaxConnections = 5 })
	var holders []*attacker
	for range 5 {
		holders = append(holders, attack(t, h))
	}
	waitFor(t, func() bool { h.srv.mu.Lock(); defer h.srv.mu.Unlock(); return len(h.srv.conns) == 5 })
	var flood []*attacker
	for range 300 {
		flood = append(flood, attack(t, h))
	}
	for _, a := range flood {
		if w := a.closed(); len(w.lines) != 1 || w.lines[0] != "421 4.4.5 Too many connections, try again later" {
			t.Fatalf("connection over max_connections: %q", w.lines)
		}
	}
	for _, a := range holders {
		_ = a.c.Close()
		a.w.wait(t, 5*time.Second)
	}
	waitFor(t, func() bool { h.srv.mu.Lock(); defer h.srv.mu.Unlock(); return len(h.srv.conns) == 0 })
	goodClient(t, h)
	before.settled(t)
}

// A hundred connections that open a transaction and wait, half of them
// in DATA with a few octets sent, hold little of max_data_memory: a good
// client's message still goes through, and all is given back when they go.
func TestHostileIdleTransactions(t *testing.T) {
	h, before := hostileServer(t, func(l *config.Limits) {
		l.MaxDataMemory, l.MaxMessageSize = 1<<20, 64<<10
	})
	var as []*attacker
	for i := range 100 {
		a := attack(t, h)
		if i%2 == 0 {
			a.write(inTxn + "DATA\r\n" + strings.Repeat("y", 3000))
		} else {
			a.write(inTxn)
		}
		as = append(as, a)
	}
	waitFor(t, func() bool { return h.srv.dataMem.used.Load() >= 50*dataChunk })
	goodClient(t, h)
	for _, a := range as {
		_ = a.c.Close()
		a.w.wait(t, 5*time.Second)
	}
	waitFor(t, func() bool { return h.srv.dataMem.used.Load() == 0 })
	before.settled(t)
}
