package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// wantDefault checks that v is default_action's answer at RCPT of
// b@example.org: Postfix's 451 4.3.5 Server configuration problem.
func wantDefault(t *testing.T, what string, v sdk.Verdict) {
	t.Helper()
	want := "451 4.3.5 <b@example.org>: Recipient address rejected: Server configuration problem"
	if v.Action != sdk.ActionTempfail || v.Reply == nil || fmt.Sprintf("%d %s %s", v.Reply.Code, v.Reply.Enhanced, v.Reply.Text) != want {
		t.Fatalf("%s: %v %+v, want %s", what, v.Action, v.Reply, want)
	}
	if !strings.Contains(v.Reason, "(default_action: ") {
		t.Errorf("%s: the reason %q does not say default_action answered", what, v.Reason)
	}
}

// TestConnectionReuse: the requests of one session, and of the next,
// go on one connection, as Postfix's smtpd keeps its connection to the
// server; concurrent sessions each get one, no more than
// max_connections.
func TestConnectionReuse(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["mail", "rcpt"]`)
	for i := range 3 {
		tx := sdktest.NewTxn("a@origin.test")
		tx.Session.ID = fmt.Sprint("S", i)
		h.Mail(tx)
		h.Rcpt(tx, "b@example.org")
		h.Rcpt(tx, "c@example.org")
	}
	if n, c := len(srv.requests()), srv.connections(); n != 9 || c != 1 {
		t.Fatalf("%d requests on %d connections, want 9 on 1", n, c)
	}

	// Four sessions at once, the server holding each answer until all
	// four are in: four connections; with max_connections = 2, two.
	for _, c := range []struct {
		extra string
		want  int
	}{{"", 4}, {`, "max_connections": 2`, 2}} {
		srv := newServer(t)
		var mu sync.Mutex
		in, release := 0, make(chan struct{})
		srv.answers(func(serverReq) reply {
			mu.Lock()
			in++
			if in == c.want {
				close(release)
			}
			mu.Unlock()
			<-release
			return action("DUNNO")
		})
		_, h, _ := newStage(t, srv, c.extra)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx := sdktest.NewTxn("a@origin.test")
				tx.Session.ID = fmt.Sprint("C", i)
				if v := h.Rcpt(tx, "b@example.org"); v.Action != sdk.ActionContinue {
					t.Errorf("concurrent rcpt: %v (%s)", v.Action, v.Reason)
				}
			}()
		}
		wg.Wait()
		if got := srv.connections(); got != c.want {
			t.Errorf("max_connections%s: %d connections, want %d", c.extra, got, c.want)
		}
	}
}

// TestUnixSocket: unix:/PATH is a server on a unix socket, asked as
// one on TCP.
func TestUnixSocket(t *testing.T) {
	srv := newServerOn(t, "unix", filepath.Join(t.TempDir(), "policy.sock"))
	srv.always("REJECT no")
	_, h, _ := newStage(t, srv, "")
	for range 2 {
		if v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"); v.Action != sdk.ActionReject {
			t.Fatalf("%v (%s), want reject", v.Action, v.Reason)
		}
	}
	if c := srv.connections(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}

// TestConnectionLimits: request_limit closes a connection after that
// many requests, max_idle one unused that long and max_ttl one that
// old, as smtpd_policy_service_request_limit, _max_idle and _max_ttl.
func TestConnectionLimits(t *testing.T) {
	for _, c := range []struct {
		name, extra string
		advance     time.Duration
		want        int // connections after four requests
	}{
		{"defaults", "", 299 * time.Second, 1},
		{"request_limit", `, "request_limit": 2`, 0, 2},
		{"max_idle", `, "max_idle": "10s"`, 10 * time.Second, 4},
		{"max_ttl", `, "max_ttl": "25s", "max_idle": "1h"`, 10 * time.Second, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			clk := newClock()
			lb := &logBuffer{}
			p := &Plugin{log: lb.logger(), now: clk.Now}
			h := sdktest.New(t, p, fmt.Sprintf(`{"server": %q%s}`, srv.server(), c.extra))
			t.Cleanup(func() { p.pool.closeAll() })
			for range 4 {
				h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org")
				clk.Advance(c.advance)
			}
			if got := srv.connections(); got != c.want {
				t.Errorf("%d connections, want %d", got, c.want)
			}
		})
	}
}

// TestServerClosedIdleConnection: a server that closed the connection
// while it was idle (a restart, a server that serves one request a
// connection) costs no try: the request goes on a new one.
func TestServerClosedIdleConnection(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(serverReq) reply { return reply{raw: "action=OK\n\n", close: true} })
	_, h, lb := newStage(t, srv, `, "try_limit": 1`)
	for i := range 3 {
		if v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"); v.Action != sdk.ActionAccept {
			t.Fatalf("request %d: %v (%s)", i+1, v.Action, v.Reason)
		}
		// Wait for the close to be seen (the server's goroutine closes
		// after writing): the next request must find it.
		waitClosed(t, srv, i+1)
	}
	if c := srv.connections(); c != 3 {
		t.Errorf("%d connections, want 3", c)
	}
	if strings.Contains(lb.String(), "problem talking") {
		t.Errorf("a closed idle connection was counted as a failed try:\n%s", lb.String())
	}
}

// waitClosed waits until the server has closed its connection n.
func waitClosed(t *testing.T, srv *policyServer, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-srv.closed:
			if got == n {
				return
			}
		case <-timeout:
			t.Fatalf("the server did not close connection %d", n)
		}
	}
}

// TestDroppedConnectionRetried: a server that drops the connection
// instead of answering ("in case of trouble the policy server must not
// send a reply", SMTPD_POLICY_README) is asked again on a new one; one
// that drops every try gets default_action after try_limit tries, and
// default_action DUNNO lets the mail on.
func TestDroppedConnectionRetried(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(r serverReq) reply {
		if r.conn == 1 {
			return reply{close: true}
		}
		return action("OK")
	})
	_, h, lb := newStage(t, srv, "")
	if v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"); v.Action != sdk.ActionAccept {
		t.Fatalf("after a dropped try: %v (%s), want the second try's OK", v.Action, v.Reason)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if !strings.Contains(lb.String(), "problem talking to server") {
		t.Errorf("the dropped try is not logged:\n%s", lb.String())
	}

	// A new stage: the connection the last one kept would cost a try
	// again (TestKeptConnectionClosedUnanswered).
	srv.answers(func(serverReq) reply { return reply{close: true} })
	_, h, lb = newStage(t, srv, "")
	before := len(srv.requests())
	wantDefault(t, "every try dropped", h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"))
	if n := len(srv.requests()) - before; n != 2 {
		t.Errorf("%d tries, want try_limit's 2", n)
	}
	if !strings.Contains(lb.String(), "default_action applies") {
		t.Errorf("default_action is not logged:\n%s", lb.String())
	}

	_, h, _ = newStage(t, srv, `, "try_limit": 3, "default_action": "DUNNO"`)
	before = len(srv.requests())
	if v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"); v.Action != sdk.ActionContinue {
		t.Errorf("default_action DUNNO: %v", v.Action)
	}
	if n := len(srv.requests()) - before; n != 3 {
		t.Errorf("%d tries, want try_limit's 3", n)
	}

	// Nobody listening: default_action too.
	down := newServer(t)
	_ = down.ln.Close()
	_, h, _ = newStage(t, down, "")
	wantDefault(t, "server down", h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"))
}

// TestKeptConnectionClosedUnanswered: a kept connection the server
// closes on the next request without answering (a server that closes
// after each answer, its process not gone yet when the next request
// came, so that the look before the request found it open) costs no
// try, nor retry_delay: the request goes again at once on a new one,
// even with try_limit 1. A new connection closed so is a try, as before.
func TestKeptConnectionClosedUnanswered(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(r serverReq) reply {
		if r.conn == 1 && r.n > 1 {
			return reply{close: true}
		}
		return action("OK")
	})
	_, h, lb := newStage(t, srv, `, "try_limit": 1, "retry_delay": "1h"`)
	for i := range 3 {
		if v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"); v.Action != sdk.ActionAccept {
			t.Fatalf("request %d: %v (%s), want OK", i+1, v.Action, v.Reason)
		}
	}
	if n, c := len(srv.requests()), srv.connections(); n != 4 || c != 2 {
		t.Errorf("%d requests on %d connections, want 4 on 2", n, c)
	}
	if strings.Contains(lb.String(), "problem talking") || strings.Contains(lb.String(), "default_action") {
		t.Errorf("the kept connection's close was counted as a try:\n%s", lb.String())
	}

	// Only once a request: a server that closes every connection on
	// every request is asked on the kept one, then try_limit times.
	srv.answers(func(serverReq) reply { return reply{close: true} })
	before := len(srv.requests())
	_, h, _ = newStage(t, srv, `, "try_limit": 1`)
	wantDefault(t, "new connection dropped", h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"))
	if n := len(srv.requests()) - before; n != 1 {
		t.Errorf("%d requests, want try_limit's 1", n)
	}
}

// TestMaxConnectionsWaitBounded: a request waiting for one of
// max_connections gives up before the stage's timeout, so that
// default_action, not the stage's on_error, answers.
func TestMaxConnectionsWaitBounded(t *testing.T) {
	srv := newServer(t)
	in := make(chan struct{})
	var once sync.Once
	srv.answers(func(serverReq) reply {
		once.Do(func() { close(in) })
		return reply{hang: true}
	})
	_, h, _ := newStage(t, srv, `, "max_connections": 1`)
	call := func(d time.Duration) (sdk.Verdict, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return h.Client().Hook(ctx, sdk.HookRcpt, sdktest.NewTxn("a@origin.test"), &sdk.Recipient{Addr: "b@example.org"}, nil)
	}
	done := make(chan error, 1)
	go func() {
		// It holds the one connection, its server silent.
		_, err := call(time.Second)
		done <- err
	}()
	select {
	case <-in:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request did not reach the server")
	}
	v, err := call(300 * time.Millisecond)
	if err != nil {
		t.Fatalf("the call failed (on_error would answer): %v", err)
	}
	wantDefault(t, "no connection free", v)
	if err := <-done; err != nil {
		t.Errorf("the first request's call failed: %v", err)
	}
}

// TestIdleSweptWhenNoMailComes: a connection kept idle is closed once
// past max_idle when no request comes to find it, though it was used
// again after the sweep was set (which then sets another).
func TestIdleSweptWhenNoMailComes(t *testing.T) {
	srv := newServer(t)
	clk := newClock()
	var mu sync.Mutex
	var sweeps []func()
	p := &Plugin{log: (&logBuffer{}).logger(), now: clk.Now, afterFunc: func(d time.Duration, f func()) {
		mu.Lock()
		sweeps = append(sweeps, f)
		mu.Unlock()
	}}
	h := sdktest.New(t, p, fmt.Sprintf(`{"server": %q, "max_idle": "300s"}`, srv.server()))
	t.Cleanup(func() { p.pool.closeAll() })
	sweep := func() bool {
		mu.Lock()
		if len(sweeps) == 0 {
			mu.Unlock()
			return false
		}
		f := sweeps[0]
		sweeps = sweeps[1:]
		mu.Unlock()
		f()
		return true
	}
	h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org") // sets a sweep
	clk.Advance(200 * time.Second)
	h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org") // used again
	for range 3 {
		clk.Advance(200 * time.Second)
		if !sweep() {
			break
		}
	}
	select {
	case n := <-srv.closed:
		if n != 1 {
			t.Errorf("connection %d closed, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was never closed")
	}
}

// TestTimeout: a server that does not answer within timeout is given up
// (each try), and default_action answers; one that does not answer
// before the stage's own timeout would end the call is given up a
// little before, so that default_action, not the stage's on_error,
// answers.
func TestTimeout(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(serverReq) reply { return reply{hang: true} })
	// 250 ms a try, the dial and the writing of the request included:
	// a bound for a loaded machine to get the request to the server in.
	_, h, _ := newStage(t, srv, `, "timeout": "250ms"`)
	start := time.Now()
	wantDefault(t, "hung server", h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"))
	if n := len(srv.waitRequests(2)); n != 2 {
		t.Errorf("%d tries, want 2", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}

	_, h, _ = newStage(t, srv, "") // timeout 100s
	// The request gives up a tenth of the time left before the call's
	// deadline, at most 250 ms: 2.5 s leaves the answer that most to come
	// back in, where 400 ms left 40 ms, which a loaded machine can miss.
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	v, err := h.Client().Hook(ctx, sdk.HookRcpt, sdktest.NewTxn("a@origin.test"), &sdk.Recipient{Addr: "b@example.org"}, nil)
	if err != nil {
		t.Fatalf("the call failed (on_error would answer): %v", err)
	}
	wantDefault(t, "the stage's timeout", v)
}

// TestMalformedAnswers: an answer is read as Postfix's attr_scan_plain
// reads check_policy_service's: its first action counts; other
// attributes, lines without "=" and a second action are skipped over,
// whatever their length or number; an action over 4096 bytes is cut
// there (on a character's boundary); a CR before the LF is part of the
// line break. An answer without an action, an action without a value or
// not UTF-8, one over 1 MiB and one the server cut short are no answer:
// the connection is closed, the request tried again, then
// default_action answers.
func TestMalformedAnswers(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, c := range []struct {
		name, raw string
		want      sdk.Action // ActionContinue: default_action
	}{
		{"no equals sign", "action\n\n", sdk.ActionContinue},
		{"empty name", "=DUNNO\n\n", sdk.ActionContinue},
		{"no action", "reason=none\n\n", sdk.ActionContinue},
		{"not UTF-8", "action=REJECT \xff\xfe\n\n", sdk.ActionContinue},
		{"over 1 MiB", strings.Repeat("x-debug="+long+"\n", 11) + "action=OK\n\n", sdk.ActionContinue},
		{"closed mid-answer", "action=OK\n", sdk.ActionContinue},
		{"other attributes", "x-score=3\naction=OK\nx-why=listed\n\n", sdk.ActionAccept},
		{"CRLF", "action=OK\r\n\r\n", sdk.ActionAccept},
		{"two actions", "action=OK\naction=REJECT\n\n", sdk.ActionAccept},
		{"lines without =", "debug: b@example.org looked up\n=x\naction=OK\n\n", sdk.ActionAccept},
		{"100 KB attribute", "x-debug=" + long + "\naction=OK\n\n", sdk.ActionAccept},
		{"1000 lines", strings.Repeat("x-attr=1\n", 1000) + "action=OK\n\n", sdk.ActionAccept},
		{"100 KB action", "action=REJECT x" + strings.Repeat("\u00e9", 50_000) + "\r\n\n", sdk.ActionReject},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			srv.answers(func(serverReq) reply { return reply{raw: c.raw, close: true} })
			_, h, lb := newStage(t, srv, "")
			v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org")
			switch c.want {
			case sdk.ActionContinue:
				wantDefault(t, c.name, v)
				if n := len(srv.requests()); n != 2 {
					t.Errorf("%d tries, want 2", n)
				}
				if !strings.Contains(lb.String(), "problem talking to server") {
					t.Errorf("not logged:\n%s", lb.String())
				}
			case sdk.ActionReject:
				if v.Action != sdk.ActionReject || v.Reply == nil || !utf8.ValidString(v.Reply.Text) ||
					!strings.HasPrefix(v.Reply.Text, "<b@example.org>: Recipient address rejected: x\u00e9\u00e9") || len(v.Reply.Text) > maxAnswerLine+50 {
					t.Fatalf("%v %+v, want a reject with the action's first 4096 bytes", v.Action, v.Reply)
				}
			default:
				if v.Action != c.want {
					t.Fatalf("%v (%s), want %v", v.Action, v.Reason, c.want)
				}
			}
		})
	}
}
