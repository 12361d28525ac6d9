package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// reporter reads the lines the ender test plugin writes: "HOOK ID PORT
// TRANSACTION" for each hook it is asked, before it answers.
type reporter struct {
	ln    net.Listener
	lines chan string
	wg    sync.WaitGroup
}

func newReporter(t *testing.T) *reporter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &reporter{ln: ln, lines: make(chan string, 1000)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					r.lines <- sc.Text()
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

// stage renders a [[stage]] of the ender plugin reporting to r, with
// extra in its [stage.config]. Its timeout outlasts a test's reads, so
// that a wait for a disconnect hook shows as the read's failure.
func (r *reporter) stage(t *testing.T, name, extra string) string {
	bin := testlib.Build(t, "./internal/testplugins/ender")
	return fmt.Sprintf("[[stage]]\nname = %q\nplugin = %q\ntimeout = \"30s\"\n[stage.config]\nreport = %q\n%s\n", name, bin, r.ln.Addr().String(), extra)
}

// until reads lines up to the first that starts with prefix, and returns
// them all.
func (r *reporter) until(t *testing.T, prefix string) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-r.lines:
			got = append(got, l)
			if strings.HasPrefix(l, prefix) {
				return got
			}
		case <-timeout:
			t.Fatalf("no %q in %q", prefix, got)
		}
	}
}

// rest returns the lines still to come once the daemon has stopped (the
// plugin, and so its connection, with it).
func (r *reporter) rest(t *testing.T) []string {
	t.Helper()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin's connection is still open after Stop")
	}
	var got []string
	for {
		select {
		case l := <-r.lines:
			got = append(got, l)
		default:
			return got
		}
	}
}

// port is the client port of c's connection, as the plugin sees it.
func port(c net.Conn) string { return strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port) }

// dialText opens an SMTP session by hand and reads the greeting.
func dialText(t *testing.T, addr string, code int) (*textproto.Conn, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.ReadResponse(code); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, nc
}

func cmd(t *testing.T, c *textproto.Conn, line string, code int) {
	t.Helper()
	if err := c.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadResponse(code); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

// lastIs checks that lines are one session's, the last its disconnect
// with transaction txn.
func lastIs(t *testing.T, lines []string, p, txn string) {
	t.Helper()
	id := strings.Fields(lines[0])[1]
	for _, l := range lines {
		if f := strings.Fields(l); len(f) != 4 || f[1] != id || f[2] != p {
			t.Fatalf("hooks %q: want session %s's, port %s", lines, id, p)
		}
	}
	if want := "disconnect " + id + " " + p + " " + txn; lines[len(lines)-1] != want {
		t.Fatalf("hooks %q, want the last %q", lines, want)
	}
}

// A plugin that declares the disconnect hook hears of each session's end
// once, after the session's other hooks, with its last transaction's
// number: a QUIT, a connection the client dropped, a session its connect
// hook refused. A stage before it that does not declare the hook is not
// asked it.
func TestDisconnectHookOncePerSession(t *testing.T) {
	r := newReporter(t)
	extra := "[[listener]]\nname = \"mx2\"\nlisten = \"127.0.0.1:0\"\n" +
		actorStage(t, "quiet", `{}`, "") + r.stage(t, "ender", `reject_listener = "mx2"`)
	d := startDaemon(t, extra)
	addr := d.SMTPAddrs()["mx"].String()

	// QUIT after two transactions.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p1 := port(nc)
	c := smtp.NewClient(nc)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Mail("alice@sluice.test", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@remote.test", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	got := r.until(t, "disconnect")
	want := []string{"connect", "helo", "mail", "rcpt", "mail", "rcpt", "disconnect"}
	if len(got) != len(want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	for i, l := range got {
		if f := strings.Fields(l); f[0] != want[i] || f[2] != p1 {
			t.Fatalf("hooks %q, want %q for port %s", got, want, p1)
		}
	}
	if f := strings.Fields(got[len(got)-1]); f[3] != "2" {
		t.Fatalf("disconnect %q: want the last transaction, 2", got[len(got)-1])
	}

	// A connection dropped in a transaction.
	tc, nc := dialText(t, addr, 220)
	p2 := port(nc)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<alice@sluice.test>", 250)
	tc.Close()
	lastIs(t, r.until(t, "disconnect"), p2, "1")

	// Refused at connect: the stage that refused was asked.
	tc, nc = dialText(t, d.SMTPAddrs()["mx2"].String(), 554)
	p3 := port(nc)
	_ = tc.PrintfLine("QUIT")
	_, _, _ = tc.ReadResponse(221)
	tc.Close()
	lastIs(t, r.until(t, "disconnect"), p3, "0")

	// The quiet stage, first, was asked its hooks and nothing else: 6 in
	// the first session, 3 in the second, 1 in the third.
	for _, s := range d.pipe().Status() {
		if s.Name == "quiet" && (s.Calls != 10 || s.Errors != 0) {
			t.Fatalf("quiet stage: %+v, want 10 calls", s)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if rest := r.rest(t); len(rest) != 0 {
		t.Fatalf("more hooks after the sessions ended: %q", rest)
	}
}

// With delay_reject a session that ended before a decision was needed
// asked the stages nothing, and none is told of its end; one that got to
// RCPT is.
func TestDisconnectHookDelayReject(t *testing.T) {
	r := newReporter(t)
	d := startDaemonTop(t, "delay_reject = true", r.stage(t, "ender", ""))
	addr := d.SMTPAddrs()["mx"].String()
	tc, nc := dialText(t, addr, 220)
	undecided := port(nc)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<alice@sluice.test>", 250)
	cmd(t, tc, "QUIT", 221)
	tc.Close()

	tc, nc = dialText(t, addr, 220)
	decided := port(nc)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "MAIL FROM:<alice@sluice.test>", 250)
	cmd(t, tc, "RCPT TO:<bob@remote.test>", 250)
	cmd(t, tc, "QUIT", 221)
	tc.Close()
	got := r.until(t, "disconnect")
	lastIs(t, got, decided, "1")
	if len(got) != 5 {
		t.Fatalf("hooks %q: want connect, helo, mail, rcpt, disconnect", got)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if rest := r.rest(t); len(rest) != 0 {
		t.Fatalf("hooks of the undecided session (port %s): %q", undecided, rest)
	}
}

// The drain of `sluice serve`'s shutdown tells the plugins of the end of
// the sessions it closes before it stops them: the disconnect hook, which
// takes its time here, is answered, not cut off by the plugin's stop.
func TestDisconnectHookOnShutdown(t *testing.T) {
	r := newReporter(t)
	d := startDaemon(t, r.stage(t, "ender", "linger_first_ms = 300"))
	tc, nc := dialText(t, d.SMTPAddrs()["mx"].String(), 220)
	p := port(nc)
	cmd(t, tc, "EHLO client.test", 250)
	r.until(t, "helo")
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.ReadResponse(421); err != nil {
		t.Fatalf("the drain's goodbye: %v", err)
	}
	rest := r.rest(t)
	if len(rest) != 1 || strings.Fields(rest[0])[0] != "disconnect" || strings.Fields(rest[0])[2] != p {
		t.Fatalf("after the drain: %q, want the session's disconnect", rest)
	}
	if st := d.pipe().Status()[0]; st.Errors != 0 || st.Calls != 3 {
		t.Fatalf("stage %+v: want connect, helo and disconnect answered", st)
	}
}

// XCLIENT ends the proxy's session and starts the named client's under
// the same ID: a plugin hears of the first one's end before the second
// one's connect, even when its disconnect hook takes its time (which
// the XCLIENT reply then waits for).
func TestDisconnectHookBeforeXClientConnect(t *testing.T) {
	r := newReporter(t)
	d := startDaemon(t, "xclient_hosts = [\"127.0.0.0/8\"]\n"+r.stage(t, "ender", "linger_first_ms = 300"))
	tc, nc := dialText(t, d.SMTPAddrs()["mx"].String(), 220)
	p := port(nc)
	cmd(t, tc, "EHLO proxy.test", 250)
	cmd(t, tc, "XCLIENT ADDR=127.0.0.9 PORT=4242", 220)
	cmd(t, tc, "QUIT", 221)
	got := r.until(t, "disconnect")
	got = append(got, r.until(t, "disconnect")...)
	id := strings.Fields(got[0])[1]
	want := []string{"connect " + id + " " + p + " 0", "helo " + id + " " + p + " 0", "disconnect " + id + " " + p + " 0",
		"connect " + id + " 4242 0", "disconnect " + id + " 4242 0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("hooks\n %q\nwant\n %q", got, want)
	}
}

// The client does not wait for the disconnect hook: the connection ends
// after the 221 while the plugin still holds the hook, which it lets go
// only at the next session's connect.
func TestDisconnectHookAfterClose(t *testing.T) {
	r := newReporter(t)
	d := startDaemon(t, r.stage(t, "ender", "linger_first_ms = 20000"))
	addr := d.SMTPAddrs()["mx"].String()
	tc, nc := dialText(t, addr, 220)
	p := port(nc)
	cmd(t, tc, "EHLO client.test", 250)
	cmd(t, tc, "QUIT", 221)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after QUIT: read %d, %v; want the end of the connection while the disconnect hook runs", n, err)
	}
	tc2, nc2 := dialText(t, addr, 220)
	got := r.until(t, "disconnect")
	want := []string{"connect", "helo", "connect", "disconnect"}
	for i, l := range got {
		if i >= len(want) || strings.Fields(l)[0] != want[i] {
			t.Fatalf("hooks %q, want %q", got, want)
		}
	}
	if f := strings.Fields(got[3]); f[2] != p || strings.Fields(got[2])[2] != port(nc2) {
		t.Fatalf("hooks %q: want the first session's disconnect after the second's connect", got)
	}
	tc2.Close()
}
