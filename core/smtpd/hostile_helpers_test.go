package smtpd

import (
	"bufio"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The helpers of the hostile-client tests (hostile_test.go): a reader
// that checks every reply line the server sends, and a leak check of the
// process's goroutines and descriptors.

// The hostile tests' timeouts. An attack that must end at
// command_timeout or data_timeout is a session under short ones
// (hurried). Every other session, the good client's and the attacks
// that must end at something else, has a minute: a command a loaded
// machine is slow to send must not end it, and a server that waited for
// a timeout where it should end a session at once would take a minute,
// far past the tests' bounds (5 s for a close).
const (
	shortTimeout = 500 * time.Millisecond
	longTimeout  = time.Minute
)

// setTimeouts makes command_timeout and data_timeout d for the
// connections accepted from now on, as a reload does (SetLimits): a
// session keeps the timeouts of the go-smtp server it began under.
func (h *harness) setTimeouts(d time.Duration) {
	c := *h.cfg
	c.Limits = *h.srv.lim()
	c.Limits.CommandTimeout.Duration, c.Limits.DataTimeout.Duration = d, d
	h.srv.SetLimits(&c)
}

// hurried connects a session under shortTimeout and writes input at
// once, before the greeting, so that none of its commands waits on the
// test; it reads the greeting, which shows the session begun under the
// short timeouts, before the next connections get the long ones back.
func hurried(t *testing.T, h *harness, input string) net.Conn {
	t.Helper()
	h.setTimeouts(shortTimeout)
	defer h.setTimeouts(longTimeout)
	c, err := net.Dial("tcp", h.addr("mx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if input != "" {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(input)); err != nil {
			t.Fatal(err)
		}
	}
	// A byte at a time, so that nothing after the greeting is read.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var greeting []byte
	for b := make([]byte, 1); len(greeting) == 0 || greeting[len(greeting)-1] != '\n'; {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("reading the greeting: %v (got %q)", err, greeting)
		}
		greeting = append(greeting, b[0])
	}
	if string(greeting) != "220 mx.test ESMTP\r\n" {
		t.Fatalf("greeting %q", greeting)
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// hurriedAttack is an attacker under shortTimeout that sent input at
// once (hurried); its replyWatch reads what follows the greeting.
func hurriedAttack(t *testing.T, h *harness, input string) *attacker {
	t.Helper()
	c := hurried(t, h, input)
	return &attacker{t: t, c: c, w: watch(c)}
}

// maxReplyLine is the longest reply line with its CRLF (RFC 5321
// §4.5.3.1.5).
const maxReplyLine = 512

// checkReply reports what is wrong with one reply line as read, CRLF
// included, or "" when it is well formed: a three-digit code (RFC 5321
// §4.2: 2xx to 5xx), then a space or a hyphen, printable text, at most
// 512 octets.
func checkReply(l string) string {
	switch {
	case !strings.HasSuffix(l, "\r\n"):
		return "not ended by CRLF"
	case len(l) > maxReplyLine:
		return "longer than 512 octets"
	case len(l) < 5 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9':
		return "no reply code"
	case l[3] != ' ' && l[3] != '-':
		return "no space or hyphen after the code"
	}
	for _, c := range []byte(l[4 : len(l)-2]) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return "a control character in the text"
		}
	}
	return ""
}

// replyWatch reads everything the server sends on a connection until it
// closes, checking each reply line.
type replyWatch struct {
	done  chan struct{}
	lines []string // the reply lines, without CRLF; read after done
	bad   []string // the malformed lines and what is wrong with them
	err   error    // what ended the reading
}

// watch starts reading c's replies in the background; the test reads
// them once wait returns.
func watch(c net.Conn) *replyWatch {
	w := &replyWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		r := bufio.NewReaderSize(c, 64<<10)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				if why := checkReply(l); why != "" && err == nil {
					w.bad = append(w.bad, why+": "+short(l))
				} else if err != nil {
					w.bad = append(w.bad, "cut off: "+short(l))
				}
				w.lines = append(w.lines, strings.TrimSuffix(l, "\r\n"))
			}
			if err != nil {
				w.err = err
				return
			}
		}
	}()
	return w
}

// wait waits until the server has closed the connection (bounded by d),
// and fails t if it did not or if a reply line was malformed.
func (w *replyWatch) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(d):
		t.Fatalf("the server has not closed the connection after %v", d)
	}
	var ne net.Error
	if errors.As(w.err, &ne) && ne.Timeout() {
		t.Fatalf("reading replies: %v", w.err)
	}
	for _, b := range w.bad {
		t.Errorf("malformed reply: %s", b)
	}
}

// last is the last reply line read.
func (w *replyWatch) last() string {
	if len(w.lines) == 0 {
		return ""
	}
	return w.lines[len(w.lines)-1]
}

func short(s string) string {
	if len(s) > 80 {
		return strings.TrimSuffix(s[:60], "\r\n") + "...(" + strconv.Itoa(len(s)) + " octets)"
	}
	return s
}

// resources is what the process holds for SMTP: the goroutines running
// the listener's code or go-smtp's (a session, a BDAT reader, a reply
// watcher), and its sockets. Other goroutines and files (the queue's
// background work and its files) come and go on their own.
type resources struct{ goroutines, sockets int }

func held(t *testing.T) resources {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var r resources
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			r.sockets++
		}
	}
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sluice/core/smtpd.") || strings.Contains(g, "emersion/go-smtp.") {
			r.goroutines++
		}
	}
	return r
}

// settled waits (bounded) until the process holds no more than before,
// once every attacker has gone: a session, its goroutines or its socket
// left behind is a leak that adds up with each attack.
func (before resources) settled(t *testing.T) {
	t.Helper()
	var now resources
	for deadline := time.Now().Add(10 * time.Second); ; {
		now = held(t)
		if now.goroutines <= before.goroutines && now.sockets <= before.sockets {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling, bounded by the deadline
	}
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf("leak: goroutines %d -> %d, sockets %d -> %d\n%s", before.goroutines, now.goroutines, before.sockets, now.sockets, buf)
}
