package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestStageTimeoutHoldsTheTries: StageTimeout is the shortest stage
// timeout whose time, less what request keeps back, holds every try,
// after the earlier requests of the call; NeedsOf reads the config with
// Postfix's defaults, and counts the requests of a call.
func TestStageTimeoutHoldsTheTries(t *testing.T) {
	for _, need := range []time.Duration{time.Millisecond, 17 * time.Millisecond, 18 * time.Millisecond, 500 * time.Millisecond,
		700*time.Millisecond + 1, 2250*time.Millisecond - 1, 2250 * time.Millisecond, 201 * time.Second} {
		b := Budget{Timeout: need, TryLimit: 1}
		x := b.StageTimeout(1)
		if x-reserve(x) < need || x-time.Microsecond-reserve(x-time.Microsecond) >= need {
			t.Errorf("tries of %v: stage timeout %v (keeping back %v), not the shortest that holds them", need, x, reserve(x))
		}
		if two := b.StageTimeout(2); two != x+need || !b.Fits(two, 2) || b.Fits(two-time.Microsecond, 2) {
			t.Errorf("tries of %v: two requests' stage timeout %v, want %v", need, two, x+need)
		}
	}
	for _, c := range []struct {
		json      string
		tries     time.Duration
		call, dat int
	}{
		{`{"server": "inet:127.0.0.1:10023"}`, 201 * time.Second, 1, 0},
		{`{"server": "inet:127.0.0.1:10023", "timeout": "10s", "try_limit": 3, "retry_delay": "0s", "hooks": ["connect", "end-of-data"]}`, 30 * time.Second, 1, 1},
		{`{"server": "inet:127.0.0.1:10023", "try_limit": 1, "hooks": ["data", "end-of-data"]}`, 100 * time.Second, 0, 2},
	} {
		n, err := NeedsOf([]byte(c.json))
		if err != nil || n.Tries() != c.tries || n.Call != c.call || n.Data != c.dat {
			t.Errorf("%s: %+v (tries %v) %v, want tries %v, call %d, data %d", c.json, n, n.Tries(), err, c.tries, c.call, c.dat)
		}
	}
	if _, err := NeedsOf([]byte(`{"server": "inet:127.0.0.1:10023", "try_limit": -1}`)); err == nil || !strings.Contains(err.Error(), "try_limit") {
		t.Errorf("a config the plugin refuses: %v", err)
	}
}

// TestRetryWithinTheStageTimeout: a slow server, whose first answer
// comes after the policy timeout and its second within it, is asked
// again after retry_delay and its second answer counts when the stage's
// timeout is StageTimeout, the draft's of import-postfix; a stage
// timeout shorter than that (the default 5s against Postfix's 100s × 2)
// leaves no time for the retry, and default_action answers after one
// try.
func TestRetryWithinTheStageTimeout(t *testing.T) {
	srv := newServer(t)
	srv.answers(func(r serverReq) reply {
		if r.conn == 1 {
			return reply{raw: "action=REJECT too late\n\n", delay: 2 * time.Second}
		}
		return reply{raw: "action=OK\n\n", delay: 100 * time.Millisecond}
	})
	extra := `, "timeout": "300ms", "try_limit": 2, "retry_delay": "100ms"`
	n, err := NeedsOf([]byte(fmt.Sprintf(`{"server": %q%s}`, srv.server(), extra)))
	if err != nil {
		t.Fatal(err)
	}
	stage := n.StageTimeout(1)
	if n.Tries() != 700*time.Millisecond || stage < n.Tries() {
		t.Fatalf("tries %v, stage timeout %v", n.Tries(), stage)
	}
	call := func(timeout time.Duration) sdk.Verdict {
		t.Helper()
		_, h, _ := newStage(t, srv, extra) // each with its own connections: the first is a new one
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		v, err := h.Client().Hook(ctx, sdk.HookRcpt, sdktest.NewTxn("a@origin.test"), &sdk.Recipient{Addr: "b@example.org"}, nil)
		if err != nil {
			t.Fatalf("stage timeout %v: the call failed (on_error would answer): %v", timeout, err)
		}
		return v
	}
	if v := call(stage); v.Action != sdk.ActionAccept {
		t.Errorf("stage timeout %v: %v (%s), want the second try's OK", stage, v.Action, v.Reason)
	}
	if reqs := srv.requests(); len(reqs) != 2 || reqs[1].conn != 2 {
		t.Errorf("%d requests, want one on each of 2 connections", len(reqs))
	}

	short := 400 * time.Millisecond
	if n.Fits(short, 1) {
		t.Fatalf("tries of %v fit a stage timeout of %v", n.Tries(), short)
	}
	srv.answers(func(serverReq) reply { return reply{raw: "action=OK\n\n", delay: 2 * time.Second} })
	before := len(srv.requests())
	v := call(short)
	wantDefault(t, "stage timeout "+short.String(), v)
	if !strings.Contains(v.Reason, "no time left to try again") {
		t.Errorf("the reason %q does not say the retry had no time", v.Reason)
	}
	if reqs := len(srv.requests()) - before; reqs != 1 {
		t.Errorf("%d requests within %v, want 1", reqs, short)
	}
}
