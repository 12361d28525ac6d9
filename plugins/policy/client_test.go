package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

	srv.answers(func(serverReq) reply { return reply{close: true} })
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

// TestTimeout: a server that does not answer within timeout is given up
// (each try), and default_action answers; one that does not answer
// before the stage's own timeout would end the call is given up a
// little before, so that default_action, not the stage's on_error,
// answers.
func TestTimeout(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(serverReq) reply { return reply{hang: true} })
	_, h, _ := newStage(t, srv, `, "timeout": "100ms"`)
	start := time.Now()
	wantDefault(t, "hung server", h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org"))
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d tries, want 2", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}

	_, h, _ = newStage(t, srv, "") // timeout 100s
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	v, err := h.Client().Hook(ctx, sdk.HookRcpt, sdktest.NewTxn("a@origin.test"), &sdk.Recipient{Addr: "b@example.org"}, nil)
	if err != nil {
		t.Fatalf("the call failed (on_error would answer): %v", err)
	}
	wantDefault(t, "the stage's timeout", v)
}

// TestMalformedAnswers: an answer that is not one action and an empty
// line is no answer: the connection is closed, the request tried again,
// then default_action answers. Attributes other than action are
// ignored, and a CR before the LF is taken as part of the line break.
func TestMalformedAnswers(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		ok        bool
	}{
		{"no equals sign", "action\n\n", false},
		{"empty name", "=DUNNO\n\n", false},
		{"no action", "reason=none\n\n", false},
		{"two actions", "action=DUNNO\naction=REJECT\n\n", false},
		{"not UTF-8", "action=REJECT \xff\xfe\n\n", false},
		{"line too long", "action=REJECT " + strings.Repeat("x", maxAnswerLine) + "\n\n", false},
		{"too many lines", strings.Repeat("x-attr=1\n", maxAnswerLines+1) + "action=OK\n\n", false},
		{"closed mid-answer", "action=OK\n", false},
		{"other attributes", "x-score=3\naction=OK\nx-why=listed\n\n", true},
		{"CRLF", "action=OK\r\n\r\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			srv.answers(func(serverReq) reply { return reply{raw: c.raw, close: true} })
			_, h, lb := newStage(t, srv, "")
			v := h.Rcpt(sdktest.NewTxn("a@origin.test"), "b@example.org")
			if c.ok {
				if v.Action != sdk.ActionAccept {
					t.Fatalf("%v (%s), want OK", v.Action, v.Reason)
				}
				return
			}
			wantDefault(t, c.name, v)
			if n := len(srv.requests()); n != 2 {
				t.Errorf("%d tries, want 2", n)
			}
			if !strings.Contains(lb.String(), "problem talking to server") {
				t.Errorf("not logged:\n%s", lb.String())
			}
		})
	}
}
