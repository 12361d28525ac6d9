package delivery

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// toldOutcome is one outcome the hook was told, with its message's id.
type toldOutcome struct {
	id string
	o  sdk.Outcome
}

// outcomeHookTo is an outcome hook sending each outcome on ch.
func outcomeHookTo(ch chan toldOutcome) OutcomeHook {
	return OutcomeHook{Notify: func(m *envelope.Message, o sdk.Outcome) { ch <- toldOutcome{m.ID, o} }}
}

func nextOutcome(t *testing.T, ch chan toldOutcome, id string) sdk.Outcome {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got := <-ch:
			if got.id == id {
				return got.o
			}
		case <-deadline:
			t.Fatalf("no outcome of %s", id)
		}
	}
}

// Past max_age, a deferred recipient is told failed and expired, after
// the attempt that found it so; an administrator's bounce is told failed
// with Admin set, and only for the recipients it failed.
func TestOutcomeHookExpiryAndAdminBounce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	told := make(chan toldOutcome, 100)
	h.opt.Outcome = outcomeHookTo(told)
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	o := nextOutcome(t, told, id)
	if len(o.Rcpts) != 1 || o.Rcpts[0].Status != sdk.OutcomeDeferred || o.Rcpts[0].Code != 451 || o.Rcpts[0].Enhanced != "4.3.0" ||
		o.Rcpts[0].Text != "try later" || o.Attempt != 1 || o.Admin {
		t.Fatalf("first attempt: %+v", o)
	}
	h.retryAfter(2 * time.Hour)
	o = nextOutcome(t, told, id)
	if r := o.Rcpts; len(r) != 1 || r[0].Status != sdk.OutcomeFailed || !r[0].Expired || r[0].Attempts != 2 || o.QueueAge < 2*time.Hour {
		t.Fatalf("after max_age: %+v", o)
	}

	m := msg("s@origin.test", "held@dest.test", "done@dest.test")
	m.State = envelope.StateHeld
	m.Rcpts[1].Status = envelope.RcptDelivered
	held := h.enqueue(m)
	if err := h.agent.Bounce(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	o = nextOutcome(t, told, held)
	if r := o.Rcpts; !o.Admin || len(r) != 1 || r[0].Addr != "held@dest.test" || r[0].Status != sdk.OutcomeFailed || r[0].Code != 550 {
		t.Fatalf("admin bounce: %+v", o)
	}
}

func TestOutcomeHeader(t *testing.T) {
	id, subj := outcomeHeader([]byte("Received: x\r\nsubject: Spring\r\n sale\r\nMessage-Id:  <a@b>\r\nSubject: second\r\n\r\nSubject: body\r\n"))
	if id != "<a@b>" || subj != "Spring sale" {
		t.Errorf("got %q %q", id, subj)
	}
	if id, subj := outcomeHeader([]byte("\r\nSubject: body\r\n")); id != "" || subj != "" {
		t.Errorf("a body's field read: %q %q", id, subj)
	}
}

func TestSplitReply(t *testing.T) {
	for _, tc := range []struct {
		in, dsn, enh, text string
		code               int
	}{
		{"550 5.1.1 no such user", "5.1.1", "5.1.1", "no such user", 550},
		{"451 try later", "4.0.0", "4.0.0", "try later", 451},
		{"connection lost", "4.0.0", "4.0.0", "connection lost", 0},
		// deferred: a 554 greeting (smtp_skip_5xx_greeting), soft_bounce
		{"554 5.7.1 no service", "4.7.1", "4.7.1", "no service", 554},
		{"550 5.1.1 no such user", "4.1.1", "4.1.1", "no such user", 550},
		{"554 4.7.1 odd", "5.0.0", "5.0.0", "4.7.1 odd", 554}, // not the reply's class: text
	} {
		code, enh, text := splitReply(tc.in, tc.dsn)
		if code != tc.code || enh != tc.enh || text != tc.text {
			t.Errorf("%q: %d %q %q", tc.in, code, enh, text)
		}
	}
}

// Recipients saved before the attempt's record (a server taking some of
// them per transaction, or one destination of several) are told with the
// attempt that delivered them counted, as the attempt's record tells the
// rest, and each recipient once.
func TestOutcomeHookSavedEarlyCountsTheAttempt(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "c@dest.test" && n == 1 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	told := make(chan toldOutcome, 100)
	h.opt.Outcome = outcomeHookTo(told)
	h.start()
	id := h.enqueue(msg("s@origin.test", "a@dest.test", "b@dest.test", "c@dest.test"))
	seen := map[string]int{}
	for len(seen) < 3 {
		o := nextOutcome(t, told, id)
		if o.Attempt != 1 {
			t.Errorf("told %+v with attempt %d, want 1", o.Rcpts, o.Attempt)
		}
		for _, r := range o.Rcpts {
			seen[r.Addr]++
			if r.Status != sdk.OutcomeDelivered || r.Attempts != 1 {
				t.Errorf("%s: %+v", r.Addr, r)
			}
		}
	}
	for a, n := range seen {
		if n != 1 {
			t.Errorf("%s told %d times", a, n)
		}
	}
}

// A huge folded Subject is cut to a line's worth, not inside a
// character; an 8-bit one that is not UTF-8 arrives valid.
func TestOutcomeHeaderBounded(t *testing.T) {
	long := "Subject: " + strings.Repeat("é folded\r\n ", 20000) + "end\r\nMessage-ID: <x@y>\r\n\r\n"
	id, subj := outcomeHeader([]byte(long))
	if len(subj) > maxOutcomeField || len(subj) < maxOutcomeField-1 || !utf8.ValidString(subj) || id != "<x@y>" {
		t.Errorf("subject of %d bytes (valid %v), id %q", len(subj), utf8.ValidString(subj), id)
	}
	if _, subj := outcomeHeader([]byte("Subject: caf\xe9\r\n\r\n")); subj != "caf\uFFFD" {
		t.Errorf("8-bit subject %q", subj)
	}
}
