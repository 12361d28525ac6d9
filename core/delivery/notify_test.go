package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// NOTIFY (RFC 3461 §4.1) chooses each recipient's reports: DELAY alone
// asks for the delay warning and no bounce, DELAY,FAILURE for both,
// FAILURE and NEVER for no warning. The recipient that asked for DELAY
// alone and is refused for good is in no report.
func TestNotifyDelayChoosesTheWarning(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		switch addr {
		case "s@origin.test":
			return nil
		case "refused@dest.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return tempFail(n)
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Bounce.DelayWarning = time.Hour
	h.start()
	m := msg("s@origin.test", "delay@dest.test", "both@dest.test", "failure@dest.test", "never@dest.test", "refused@dest.test")
	for i, n := range [][]string{{"DELAY"}, {"DELAY", "FAILURE"}, {"FAILURE"}, {"NEVER"}, {"DELAY"}} {
		m.Rcpts[i].Notify = n
	}
	id := h.enqueue(m)
	if r := rcpt(h.recorded(id), "refused@dest.test"); r.Status != envelope.RcptFailed {
		t.Fatalf("refused@: %+v", r)
	}
	// A bounce would have been queued in the commit just recorded.
	if q := h.queued(); len(q) != 1 {
		t.Fatalf("queue holds %d messages, want the original alone: NOTIFY=DELAY asks for no bounce", len(q))
	}
	h.retryAfter(2 * time.Hour)
	h.recorded(id)
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	var got []string
	for _, r := range d.rcpts {
		got = append(got, strings.TrimPrefix(r.Get("Final-Recipient"), "rfc822; ")+" "+r.Get("Action"))
	}
	if want := "delay@dest.test delayed, both@dest.test delayed"; strings.Join(got, ", ") != want {
		t.Errorf("the warning reports %q, want %q", strings.Join(got, ", "), want)
	}
}

// Failed mail from the null sender is never reported to its sender (RFC
// 5321 §6.1 and §4.5.5, RFC 3461 §6.2); what is dropped is logged, never
// silently lost: without double_bounce_to at once, with it once the double
// bounce to the postmaster failed in turn (no triple bounce, as Postfix's
// "undeliverable postmaster notification discarded").
func TestNullSenderFailureDroppedIsLogged(t *testing.T) {
	for _, postmaster := range []string{"", "postmaster@dest.test"} {
		t.Run("double_bounce_to="+postmaster, func(t *testing.T) {
			h := newHarness(t)
			var logs lockedBuffer
			h.logTo(&logs)
			s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test", "postmaster@dest.test")})
			h.opt.Config.Relay = s.addr
			h.opt.Bounce.DoubleBounceTo = postmaster
			reports := make(chan string, 10)
			h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
				reports <- r.ID
				return pipeline.BounceResult{Body: body}, nil
			}
			h.start()
			id := h.enqueue(msg("", "bad@dest.test"))
			h.recorded(id)
			dropped := id
			if postmaster != "" {
				select {
				case dropped = <-reports:
				case <-time.After(waitLimit):
					t.Fatal("no double bounce")
				}
				if r := h.recorded(dropped); r.Report != envelope.ReportDoubleBounce || rcpt(r, postmaster).Status != envelope.RcptFailed {
					t.Fatalf("double bounce recorded as %+v, want failed", r)
				}
			}
			if len(reports) != 0 {
				t.Errorf("a report on %s was built", <-reports)
			}
			want := `msg="delivery: undeliverable message from the null sender dropped, not reported" id=` + dropped
			if !strings.Contains(logs.String(), want) {
				t.Errorf("no line %q in the log:\n%s", want, logs.String())
			}
			if q := h.queued(); len(q) != 0 {
				t.Errorf("queue holds %+v, want nothing", q)
			}
		})
	}
}
