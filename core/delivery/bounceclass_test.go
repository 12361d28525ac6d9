package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/sdk"
)

// failureSeries are the sluice_delivery_failures_total series m's
// /metrics shows, as `class="…",status="…"} value` lines, sorted.
func failureSeries(t *testing.T, m *metrics.Metrics) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var out []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if s, ok := strings.CutPrefix(l, "sluice_delivery_failures_total{"); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// A server's refusal gives the recipient's msg=recipient line a class, in
// the text and the JSON log, and counts it in
// sluice_delivery_failures_total by class and status: 550 5.1.1 is
// invalid_recipient, bounced; 452 4.2.2 mailbox_full, deferred. The
// recipient the server took has no class and counts nothing.
func TestRecipientLineClass(t *testing.T) {
	for _, c := range []struct {
		name          string
		refusal       *smtp.SMTPError
		status, class string
	}{
		{"550 5.1.1", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, "bounced", "invalid_recipient"},
		{"452 4.2.2", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}, "deferred", "mailbox_full"},
		// Gmail's, on four lines (550-5.1.1 ... 550 5.1.1 ...): the
		// code of each continuation line goes, the text is read whole.
		{"550 5.1.1 multi-line", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "The email account that you tried to reach does not exist. Please try\ndouble-checking the recipient's email address for typos or\nunnecessary spaces. For more information, go to\n https://support.google.com/mail/?p=NoSuchUser a1-20020a05 - gsmtp"}, "bounced", "invalid_recipient"},
		// Microsoft 365's unknown recipient under Directory Based Edge
		// Blocking: the host answered, X.4.1 notwithstanding.
		{"550 5.4.1 multi-line", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 1},
			Message: "Recipient address rejected: Access denied.\nFor more information see https://aka.ms/EXOSmtpErrors"}, "bounced", "invalid_recipient"},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(c.name+" "+format, func(t *testing.T) {
				h := newHarness(t)
				s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, _ int) error {
					if addr == "r@dest.test" {
						return c.refusal
					}
					return nil
				}})
				h.opt.Config.Relay = s.addr
				logs := newLogWatch(h)
				if format == "json" {
					h.opt.Logger = slog.New(slog.NewJSONHandler(logs, nil))
				}
				m := metrics.New(metrics.Providers{})
				h.opt.Metrics = m
				h.start()
				id := h.enqueue(msg("s@origin.test", "ok@dest.test", "r@dest.test"))

				fields := func(addr string) map[string]string {
					t.Helper()
					if format == "text" {
						l := logs.wait(t, rcptLineRE(id, addr), 1)[0]
						f := map[string]string{"status": attr(l, "status")}
						if strings.Contains(l, " class=") {
							f["class"] = attr(l, "class")
						}
						return f
					}
					re := regexp.MustCompile(`"msg":"recipient","id":"` + id + `","rcpt":"` + regexp.QuoteMeta(addr) + `"`)
					var rec map[string]any
					if err := json.Unmarshal([]byte(logs.wait(t, re, 1)[0]), &rec); err != nil {
						t.Fatal(err)
					}
					f := map[string]string{}
					for k, v := range rec {
						if s, ok := v.(string); ok {
							f[k] = s
						}
					}
					return f
				}
				if f := fields("r@dest.test"); f["status"] != c.status || f["class"] != c.class {
					t.Errorf("refused recipient's line: %v, want status %s, class %s", f, c.status, c.class)
				}
				if f := fields("ok@dest.test"); f["status"] != "sent" || f["class"] != "" {
					t.Errorf("delivered recipient's line: %v, want sent, no class", f)
				}
				want := []string{`class="` + c.class + `",status="` + c.status + `"} 1`}
				if got := failureSeries(t, m); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("sluice_delivery_failures_total: %q, want %q", got, want)
				}
			})
		}
	}
}

// An expired recipient's class is its last reply's (mailbox_full after
// 452 4.2.2 deferrals), not the expiry's X.4.7; an administrator's bounce
// is admin, whatever the reply before. The outcome hook is told the same
// classes as the log lines, and the metric counts each by its status.
func TestClassOfExpiredAndAdminBounce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, _ int) error {
		if addr != "r@dest.test" {
			return nil // the reports to the sender
		}
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	logs := newLogWatch(h)
	told := make(chan toldOutcome, 100)
	h.opt.Outcome = outcomeHookTo(told)
	m := metrics.New(metrics.Providers{})
	h.opt.Metrics = m
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if o := nextOutcome(t, told, id); len(o.Rcpts) != 1 || o.Rcpts[0].Status != sdk.OutcomeDeferred || o.Rcpts[0].Class != "mailbox_full" {
		t.Fatalf("first attempt told %+v, want deferred mailbox_full", o.Rcpts)
	}
	h.retryAfter(2 * time.Hour)
	if o := nextOutcome(t, told, id); len(o.Rcpts) != 1 || !o.Rcpts[0].Expired || o.Rcpts[0].Class != "mailbox_full" {
		t.Fatalf("after max_age told %+v, want expired mailbox_full", o.Rcpts)
	}
	lines := logs.wait(t, rcptLineRE(id, "r@dest.test"), 2)
	if l := lines[1]; attr(l, "status") != "expired" || attr(l, "class") != "mailbox_full" || attr(l, "dsn") != "5.4.7" {
		t.Errorf("expired line: %s, want class=mailbox_full", l)
	}

	held := msg("s@origin.test", "h@dest.test")
	held.State = envelope.StateHeld
	held.Rcpts[0].LastReply = "550 5.1.1 no such user"
	hid := h.enqueue(held)
	if err := h.agent.Bounce(context.Background(), hid); err != nil {
		t.Fatal(err)
	}
	if o := nextOutcome(t, told, hid); len(o.Rcpts) != 1 || o.Rcpts[0].Class != "admin" {
		t.Fatalf("admin bounce told %+v, want class admin", o.Rcpts)
	}
	if l := logs.wait(t, rcptLineRE(hid, "h@dest.test"), 1)[0]; attr(l, "status") != "bounced" || attr(l, "class") != "admin" {
		t.Errorf("admin bounce's line: %s, want class=admin", l)
	}
	want := []string{`class="admin",status="bounced"} 1`, `class="mailbox_full",status="deferred"} 1`, `class="mailbox_full",status="expired"} 1`}
	if got := failureSeries(t, m); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sluice_delivery_failures_total: %q, want %q", got, want)
	}
}

// A recipient left untried because an administrator suspended its
// domain's delivery is an administrator's doing, class admin, on its
// deferred line, in the hook and the metric, and so is its expiry when
// it waits past max_age through the suspension: not other, which a
// dashboard of unexplained deferrals would see grow with each attempt.
func TestSuspendedRecipientClassIsAdmin(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	logs := newLogWatch(h)
	told := make(chan toldOutcome, 100)
	h.opt.Outcome = outcomeHookTo(told)
	m := metrics.New(metrics.Providers{})
	h.opt.Metrics = m
	sus := NewSuspensions(SuspensionOptions{Clock: h.clock.Now, Logger: h.opt.Logger})
	h.opt.Suspensions = sus
	if _, err := sus.Suspend("dest.test", 0, "incident"); err != nil {
		t.Fatal(err)
	}
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if o := nextOutcome(t, told, id); len(o.Rcpts) != 1 || o.Rcpts[0].Status != sdk.OutcomeDeferred || o.Rcpts[0].Class != "admin" {
		t.Fatalf("suspended recipient told %+v, want deferred admin", o.Rcpts)
	}
	h.retryAfter(2 * time.Hour)
	if o := nextOutcome(t, told, id); len(o.Rcpts) != 1 || !o.Rcpts[0].Expired || o.Rcpts[0].Class != "admin" {
		t.Fatalf("after max_age told %+v, want expired admin", o.Rcpts)
	}
	lines := logs.wait(t, rcptLineRE(id, "r@dest.test"), 2)
	if l := lines[0]; attr(l, "status") != "deferred" || attr(l, "class") != "admin" {
		t.Errorf("suspended line: %s, want deferred class=admin", l)
	}
	if l := lines[1]; attr(l, "status") != "expired" || attr(l, "class") != "admin" {
		t.Errorf("expired line: %s, want class=admin", l)
	}
	want := []string{`class="admin",status="deferred"} 1`, `class="admin",status="expired"} 1`}
	if got := failureSeries(t, m); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sluice_delivery_failures_total: %q, want %q", got, want)
	}
	for _, sm := range s.messages() {
		if slices.Contains(sm.rcpts, "r@dest.test") {
			t.Errorf("r@dest.test was sent to while its domain was suspended")
		}
	}
}
