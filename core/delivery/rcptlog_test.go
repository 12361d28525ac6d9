package delivery

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// logWatch collects the agent's text log and wakes a test waiting for a
// line: the lines are written after the commit the harness sees.
type logWatch struct {
	mu    sync.Mutex
	buf   strings.Builder
	wrote chan struct{}
}

func newLogWatch(h *harness) *logWatch {
	w := &logWatch{wrote: make(chan struct{}, 1)}
	h.opt.Logger = slog.New(slog.NewTextHandler(w, nil))
	return w
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// lines are the log lines that match re.
func (w *logWatch) lines(re *regexp.Regexp) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range strings.Split(w.buf.String(), "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// wait waits for n lines matching re and returns them.
func (w *logWatch) wait(t *testing.T, re *regexp.Regexp, n int) []string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if got := w.lines(re); len(got) >= n {
			return got
		}
		select {
		case <-w.wrote:
		case <-deadline:
			t.Fatalf("%d lines match %s, want %d:\n%s", len(w.lines(re)), re, n, w.all())
		}
	}
}

func (w *logWatch) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// rcptLineRE matches the recipient lines of message id for addr.
func rcptLineRE(id, addr string) *regexp.Regexp {
	return regexp.MustCompile(`msg=recipient id=` + id + ` rcpt=` + regexp.QuoteMeta(addr) + ` `)
}

// attr is the value of key in a text log line, unquoted.
func attr(line, key string) string {
	m := regexp.MustCompile(` ` + key + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// enqueueAged stores m as received age before the harness's clock.
func (h *harness) enqueueAged(m *envelope.Message, age time.Duration) string {
	h.t.Helper()
	m.ID = h.q.NewID()
	m.Received = h.clock.Now().Add(-age)
	m.Size = int64(len(testBody))
	if err := h.q.Enqueue(m, []byte(testBody)); err != nil {
		h.t.Fatal(err)
	}
	return m.ID
}

// A next hop taking one recipient, refusing one 550 and deferring one
// 451 gives one msg=recipient line each, with Postfix's status words, the
// reply's enhanced code as dsn=, the hop the attempt line names and the
// delay since queueing from the agent's clock; the bounced one names the
// report queued for it. The deferred one's next attempt gives it a line
// of its own, and the others none again.
func TestRecipientLines(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "late@dest.test" {
			return tempFail(n)
		}
		return reject550("bad@dest.test")(addr, n)
	}})
	h.opt.Config.Relay = s.addr
	logs := newLogWatch(h)
	h.start()
	m := msg("s@origin.test", "good@dest.test", "bad@dest.test", "late@dest.test")
	m.Rcpts[1].ORcpt = "rfc822;Bad@Dest.test"
	m.Rcpts[0].ORcpt = "rfc822;good@dest.test" // the same: no orcpt=
	id := h.enqueueAged(m, 1234*time.Millisecond)

	attempt := logs.wait(t, regexp.MustCompile(`msg="delivery attempt" id=`+id), 1)[0]
	via := attr(attempt, "via")
	if via == "" || attr(attempt, "result") != "mixed" {
		t.Fatalf("attempt line: %s", attempt)
	}
	report := attr(logs.wait(t, regexp.MustCompile(`msg="delivery: report queued" id=`+id), 1)[0], "report")
	for _, want := range []struct {
		addr, level, status, dsn, reply, orcpt, report string
	}{
		{"good@dest.test", "INFO", "sent", "2.0.0", "", "", ""},
		{"bad@dest.test", "WARN", "bounced", "5.1.1", "550 5.1.1 no such user", "Bad@Dest.test", report},
		{"late@dest.test", "INFO", "deferred", "4.3.0", "451 4.3.0 try later", "", ""},
	} {
		lines := logs.wait(t, rcptLineRE(id, want.addr), 1)
		if len(lines) != 1 {
			t.Errorf("%s: %d lines, want 1:\n%s", want.addr, len(lines), strings.Join(lines, "\n"))
		}
		l := lines[0]
		for k, v := range map[string]string{"level": want.level, "via": via, "status": want.status, "dsn": want.dsn,
			"orcpt": want.orcpt, "delay": "1.2", "attempts": "1", "report": want.report, "from": "s@origin.test"} {
			if got := attr(" "+l, k); got != v {
				t.Errorf("%s: %s=%q, want %q in\n%s", want.addr, k, got, v, l)
			}
		}
		if want.reply != "" && attr(l, "reply") != want.reply {
			t.Errorf("%s: reply=%q, want %q", want.addr, attr(l, "reply"), want.reply)
		}
	}
	if got := attr(logs.lines(rcptLineRE(id, "good@dest.test"))[0], "reply"); !strings.HasPrefix(got, "250 ") {
		t.Errorf("good@dest.test: reply=%q, want the sink's 250", got)
	}

	h.recorded(id)
	h.retryAfter(5 * time.Minute)
	late := logs.wait(t, rcptLineRE(id, "late@dest.test"), 2)[1]
	if attr(late, "status") != "deferred" || attr(late, "attempts") != "2" || attr(late, "delay") != "301" {
		t.Errorf("second attempt's line: %s", late)
	}
	h.recorded(id)
	for _, addr := range []string{"good@dest.test", "bad@dest.test"} {
		if n := len(logs.lines(rcptLineRE(id, addr))); n != 1 {
			t.Errorf("%s: %d lines after the second attempt, want its one", addr, n)
		}
	}
	if n := len(logs.lines(regexp.MustCompile(`"delivery: recipient failed"`))); n != 0 {
		t.Errorf("%d old failure lines beside the recipient lines", n)
	}
}

// A multi-destination attempt saves the first destination's deliveries
// before the second (recordDelivered): each is logged there, once, and
// the attempt's record logs the rest without them.
func TestRecipientLinesOnceAcrossDestinations(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil,
		"one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2",
		"two.test. MX 10 mx.two.test.", "mx.two.test. A 127.0.0.3",
	)
	h.sinkAt("127.0.0.2", sinkOptions{})
	h.sinkAt("127.0.0.3", sinkOptions{rcpt: reject550("b@two.test")})
	logs := newLogWatch(h)
	h.start()
	id := h.enqueue(msg("", "a@one.test", "b@two.test", "c@two.test"))
	logs.wait(t, regexp.MustCompile(`msg=recipient id=`+id), 3)
	h.recorded(id)
	want := map[string]string{"a@one.test": "sent", "b@two.test": "bounced", "c@two.test": "sent"}
	for addr, status := range want {
		lines := logs.lines(rcptLineRE(id, addr))
		if len(lines) != 1 || attr(lines[0], "status") != status || attr(lines[0], "delay") != "0" {
			t.Errorf("%s: %q, want one line status=%s delay=0", addr, lines, status)
		}
	}
	if n := len(logs.lines(regexp.MustCompile(`msg=recipient `))); n != 3 {
		t.Errorf("%d recipient lines, want 3:\n%s", n, logs.all())
	}
}

// A recipient deferred past max_age gets one line, status=expired with
// X.4.7, not a deferral and then an expiry; it names the report.
func TestRecipientLineExpired(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(_ string, n int) error { return tempFail(n) }})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	logs := newLogWatch(h)
	h.start()
	id := h.enqueue(msg("s@origin.test", "late@dest.test"))
	logs.wait(t, rcptLineRE(id, "late@dest.test"), 1)
	h.recorded(id)
	h.retryAfter(2 * time.Hour)
	report := attr(logs.wait(t, regexp.MustCompile(`msg="delivery: report queued" id=`+id), 1)[0], "report")
	lines := logs.wait(t, rcptLineRE(id, "late@dest.test"), 2)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	l := lines[1]
	if attr(l, "status") != "expired" || attr(l, "dsn") != "5.4.7" || attr(l, "attempts") != "2" || attr(l, "delay") != "7200" ||
		attr(l, "report") != report || !strings.HasPrefix(attr(l, "reply"), reply.Expired.String()) {
		t.Errorf("expiry line: %s", l)
	}
}

// soft_bounce logs a refused recipient deferred, its 5.X.X as 4.X.X as
// Postfix does, with soft_bounce=true; the deliver hook's discard is
// status=discarded and its refusal bounced, neither through a server.
func TestRecipientLinesSoftBounceAndHook(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	h.opt.Deliver = func(_ context.Context, _ *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict {
		out := make([]DeliverVerdict, len(rcpts))
		for i, r := range rcpts {
			switch r.Rcpt.Addr {
			case "drop@dest.test":
				out[i].Drop = true
			case "no@dest.test":
				out[i].Reply = &reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "not there"}
			}
		}
		return out
	}
	logs := newLogWatch(h)
	h.opt.SoftBounce = true
	h.start()
	id := h.enqueue(msg("s@origin.test", "bad@dest.test", "drop@dest.test", "no@dest.test"))
	for _, want := range []struct{ addr, via, status, dsn string }{
		{"bad@dest.test", "", "deferred", "4.1.1"},
		{"drop@dest.test", "none", "discarded", "2.0.0"},
		{"no@dest.test", "none", "deferred", "4.7.1"},
	} {
		l := logs.wait(t, rcptLineRE(id, want.addr), 1)[0]
		if (want.via != "" && attr(l, "via") != want.via) || attr(l, "status") != want.status || attr(l, "dsn") != want.dsn {
			t.Errorf("%s: %s, want via=%s status=%s dsn=%s", want.addr, l, want.via, want.status, want.dsn)
		}
		if soft := attr(l, "soft_bounce") == "true"; soft != (want.status == "deferred") {
			t.Errorf("%s: soft_bounce=%v in %s", want.addr, soft, l)
		}
	}
	if l := logs.lines(rcptLineRE(id, "bad@dest.test"))[0]; attr(l, "reply") != "550 5.1.1 no such user" {
		t.Errorf("soft-bounced reply: %s, want the 550 as it came", l)
	}
}

// An administrator's bounce of a held message logs each recipient it
// fails, bounced through no server, with the report it queued; the one
// delivered before gets no line.
func TestRecipientLineAdminBounce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	logs := newLogWatch(h)
	h.start()
	m := msg("s@origin.test", "held@dest.test", "done@dest.test")
	m.State = envelope.StateHeld
	m.Rcpts[1].Status = envelope.RcptDelivered
	id := h.enqueueAged(m, 90*time.Second)
	if err := h.agent.Bounce(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	report := attr(logs.wait(t, regexp.MustCompile(`msg="delivery: report queued" id=`+id), 1)[0], "report")
	lines := logs.lines(regexp.MustCompile(`msg=recipient id=` + id))
	if len(lines) != 1 {
		t.Fatalf("%d recipient lines, want 1:\n%s", len(lines), logs.all())
	}
	l := lines[0]
	if attr(l, "rcpt") != "held@dest.test" || attr(l, "via") != "none" || attr(l, "status") != "bounced" || attr(l, "dsn") != "5.0.0" ||
		attr(l, "delay") != "90" || attr(l, "report") != report || attr(l, "attempts") != "0" {
		t.Errorf("line: %s", l)
	}
}

func TestDSNOf(t *testing.T) {
	for _, tc := range []struct {
		text   string
		status envelope.RcptStatus
		want   string
	}{
		{"550 5.1.1 no such user", envelope.RcptFailed, "5.1.1"},
		{"451 4.7.1 greylisted", envelope.RcptPending, "4.7.1"},
		{"250 2.0.0 Ok: queued as X", envelope.RcptDelivered, "2.0.0"},
		{"250 Ok", envelope.RcptDelivered, "2.0.0"},
		{"550 no such user", envelope.RcptFailed, "5.0.0"},
		{"451 5.1.1 mismatched class", envelope.RcptPending, "4.0.0"},
		{"dial tcp 127.0.0.1:25: connection refused", envelope.RcptPending, "4.0.0"},
		{"554 5.4.7 Delivery time expired (451 4.3.0 try later)", envelope.RcptFailed, "5.4.7"},
		{"", envelope.RcptFailed, "5.0.0"},
	} {
		if got := dsnOf(tc.text, tc.status); got != tc.want {
			t.Errorf("dsnOf(%q) = %s, want %s", tc.text, got, tc.want)
		}
	}
}

func TestDelaySeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 5 * time.Millisecond: "0", 120 * time.Millisecond: "0.12", 1234 * time.Millisecond: "1.2",
		9400 * time.Millisecond: "9.4", 35600 * time.Millisecond: "35", 2 * time.Hour: "7200",
	} {
		if got := delaySeconds(d); got != want {
			t.Errorf("delaySeconds(%v) = %s, want %s", d, got, want)
		}
	}
}
