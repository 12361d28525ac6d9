package delivery

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
)

// ModifyEnqueue reports like Modify, so that recorded sees attempts that
// queued a report.
func (q *watchedQueue) ModifyEnqueue(id string, fn func(*envelope.Message) ([]queue.Queued, error)) (*envelope.Message, error) {
	m, err := q.Store.ModifyEnqueue(id, fn)
	if err == nil {
		q.modified <- m.Clone()
	}
	return m, err
}

// dsn is a report as it reached a sink, read back with go-message.
type dsn struct {
	msg    sinkMsg
	header message.Header
	types  []string           // media type of each part
	bodies [][]byte           // decoded body of each part
	fields textproto.Header   // per-message fields
	rcpts  []textproto.Header // per-recipient fields
}

func (d *dsn) rcpt(t *testing.T, addr string) textproto.Header {
	t.Helper()
	for _, h := range d.rcpts {
		if h.Get("Final-Recipient") == "rfc822; "+addr {
			return h
		}
	}
	t.Fatalf("no recipient block for %s in %d blocks", addr, len(d.rcpts))
	return textproto.Header{}
}

func parseDSN(t *testing.T, m sinkMsg) *dsn {
	t.Helper()
	e, err := message.Read(strings.NewReader(m.body))
	if err != nil {
		t.Fatalf("reading report: %v\n%s", err, m.body)
	}
	d := &dsn{msg: m, header: e.Header}
	if typ, params, _ := e.Header.ContentType(); typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %s %v, want multipart/report; report-type=delivery-status", typ, params)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := p.Header.ContentType()
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		d.types = append(d.types, typ)
		d.bodies = append(d.bodies, body)
		if typ != "message/delivery-status" {
			continue
		}
		for i, chunk := range strings.Split(strings.TrimSpace(string(body)), "\r\n\r\n") {
			h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(chunk + "\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				d.fields = h
			} else {
				d.rcpts = append(d.rcpts, h)
			}
		}
	}
	if len(d.types) != 3 || d.types[0] != "text/plain" || d.types[1] != "message/delivery-status" {
		t.Fatalf("parts %q, want text/plain, message/delivery-status, the original", d.types)
	}
	return d
}

// waitReport waits for the next message from the null sender at s,
// skipping others.
func waitReport(t *testing.T, s *sink) *dsn {
	t.Helper()
	for {
		m := waitMsg(t, s)
		if m.from == "" {
			return parseDSN(t, m)
		}
	}
}

// checkReportEnvelope checks what every report to sender carries.
func checkReportEnvelope(t *testing.T, d *dsn, sender string) {
	t.Helper()
	if d.msg.from != "" || !slices.Equal(d.msg.rcpts, []string{sender}) {
		t.Errorf("report envelope %q → %q, want <> → %s", d.msg.from, d.msg.rcpts, sender)
	}
	for k, want := range map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@mta.sluice.test>",
		"To":             "<" + sender + ">",
		"Auto-Submitted": "auto-replied",
	} {
		if got := d.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := d.fields.Get("Reporting-MTA"); got != "dns; mta.sluice.test" {
		t.Errorf("Reporting-MTA %q", got)
	}
}

// queued lists what the queue holds now.
func (h *harness) queued() []*envelope.Message {
	h.t.Helper()
	msgs, err := h.q.List(0)
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

func reject550(bad ...string) func(string, int) error {
	return func(addr string, _ int) error {
		if slices.Contains(bad, addr) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
}

func TestBounceFor550AtRcpt(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test", "worse@dest.test")})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "good@dest.test", "bad@dest.test", "worse@dest.test")
	m.DSNEnvID = "ENV-42"
	m.Rcpts[1].ORcpt = "rfc822;Bad@Dest.test"
	id := h.enqueue(m)
	arrival := h.clock.Now()

	rec := h.recorded(id)
	if r := rcpt(rec, "bad@dest.test"); r.Status != envelope.RcptFailed || r.RemoteMTA != "127.0.0.1" {
		t.Errorf("failed recipient recorded as %+v", r)
	}
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	if got := d.header.Get("Subject"); got != "Undelivered Mail Returned to Sender" {
		t.Errorf("Subject %q", got)
	}
	if got := d.fields.Get("Original-Envelope-Id"); got != "ENV-42" {
		t.Errorf("Original-Envelope-Id %q", got)
	}
	if got := d.fields.Get("Arrival-Date"); got != arrival.Format(time.RFC1123Z) {
		t.Errorf("Arrival-Date %q", got)
	}
	if len(d.rcpts) != 2 {
		t.Fatalf("%d recipient blocks, want the 2 failed ones (one report for both)", len(d.rcpts))
	}
	bad := d.rcpt(t, "bad@dest.test")
	for k, want := range map[string]string{
		"Original-Recipient": "rfc822; Bad@Dest.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Diagnostic-Code":    "smtp; 550 5.1.1 no such user",
		"Remote-MTA":         "dns; 127.0.0.1",
		"Last-Attempt-Date":  arrival.Format(time.RFC1123Z),
	} {
		if got := bad.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if worse := d.rcpt(t, "worse@dest.test"); worse.Has("Original-Recipient") {
		t.Error("Original-Recipient without ORCPT")
	}
	if d.types[2] != "message/rfc822" || string(d.bodies[2]) != testBody {
		t.Errorf("returned %s %q, want the whole message (no RET: FULL)", d.types[2], d.bodies[2])
	}
	if !h.gone(id) {
		t.Error("the bounced message is still queued")
	}
}

func TestBounceOnExpiry(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr == "slow@dest.test" {
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.MaxAge.Duration = time.Hour
	h.start()
	id := h.enqueue(msg("s@origin.test", "slow@dest.test"))
	if r := rcpt(h.recorded(id), "slow@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("first attempt: %+v", r)
	}
	if n := len(h.queued()); n != 1 {
		t.Fatalf("%d messages queued after a temporary failure, want 1 (no report yet)", n)
	}
	h.retryAfter(2 * time.Hour)
	h.recorded(id)
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	r := d.rcpt(t, "slow@dest.test")
	for k, want := range map[string]string{
		"Action":          "failed",
		"Status":          "5.4.7", // RFC 3463: delivery time expired
		"Diagnostic-Code": "smtp; 451 4.3.0 try later",
		"Remote-MTA":      "dns; 127.0.0.1",
	} {
		if got := r.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !h.gone(id) {
		t.Error("expired message still queued")
	}
}

func TestDelayWarningOnce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(addr string, n int) error {
		if addr != "s@origin.test" {
			return tempFail(n)
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Bounce.DelayWarning = time.Hour
	var built atomic.Int32
	h.opt.Bounce.Filter = func(_ context.Context, _ *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		built.Add(1)
		return pipeline.BounceResult{Body: body}, nil
	}
	h.start()
	m := msg("s@origin.test", "slow@dest.test", "quiet@dest.test")
	m.Rcpts[1].Notify = []string{"FAILURE"} // no DELAY: not in the warning
	id := h.enqueue(m)
	start := h.clock.Now()
	h.recorded(id)
	h.retryAfter(2 * time.Hour)
	if rec := h.recorded(id); !rec.DelayNotified {
		t.Error("DelayNotified not recorded")
	}
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	if got := d.header.Get("Subject"); got != "Delayed Mail (still being retried)" {
		t.Errorf("Subject %q", got)
	}
	if len(d.rcpts) != 1 {
		t.Fatalf("%d recipient blocks, want only the one without NOTIFY", len(d.rcpts))
	}
	// RFC 3461 §4.3: a report of no failure returns the header alone,
	// whatever RET (here none, which is FULL for a bounce) says.
	if hdr := testBody[:strings.Index(testBody, "\r\n\r\n")+4]; d.types[2] != "text/rfc822-headers" || string(d.bodies[2]) != hdr {
		t.Errorf("the warning returns %s %q, want the header only", d.types[2], d.bodies[2])
	}
	r := d.rcpt(t, "slow@dest.test")
	for k, want := range map[string]string{
		"Action":           "delayed",
		"Status":           "4.3.0",
		"Diagnostic-Code":  "smtp; 451 4.3.0 try later",
		"Will-Retry-Until": start.Add(h.opt.Config.MaxAge.Duration).Format(time.RFC1123Z),
	} {
		if got := r.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	h.retryAfter(time.Hour)
	h.recorded(id)
	if n := built.Load(); n != 1 {
		t.Errorf("%d reports built, want the one delay warning", n)
	}
}

func TestNotifyNeverSendsNoReport(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "bad@dest.test")
	m.Rcpts[0].Notify = []string{"NEVER"}
	id := h.enqueue(m)
	if r := rcpt(h.recorded(id), "bad@dest.test"); r.Status != envelope.RcptFailed {
		t.Fatalf("%+v", r)
	}
	// The report would have been queued in the commit just recorded.
	if q := h.queued(); len(q) != 0 {
		t.Errorf("queue holds %d messages, want none: NOTIFY=NEVER", len(q))
	}
}

func TestSuccessToNonDSNHopIsRelayed(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{}) // go-smtp without EnableDSN: no DSN in EHLO
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "tell@dest.test", "plain@dest.test")
	m.Rcpts[0].Notify = []string{"SUCCESS", "FAILURE"}
	m.Rcpts[0].ORcpt = "rfc822;tell@dest.test"
	id := h.enqueue(m)
	if got := waitMsg(t, s); got.from != "s@origin.test" {
		t.Fatalf("first message from %q", got.from)
	}
	h.recorded(id)
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	if got := d.header.Get("Subject"); got != "Successful Mail Delivery Report" {
		t.Errorf("Subject %q", got)
	}
	if len(d.rcpts) != 1 {
		t.Fatalf("%d recipient blocks, want 1: only tell@ asked for SUCCESS", len(d.rcpts))
	}
	r := d.rcpt(t, "tell@dest.test")
	for k, want := range map[string]string{
		"Action":             "relayed", // RFC 3461 §5.2.2
		"Status":             "2.0.0",
		"Original-Recipient": "rfc822; tell@dest.test",
		"Remote-MTA":         "dns; 127.0.0.1",
	} {
		if got := r.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(r.Get("Diagnostic-Code"), "smtp; 250 ") {
		t.Errorf("Diagnostic-Code %q", r.Get("Diagnostic-Code"))
	}
}

func TestReturnHeadersOrFull(t *testing.T) {
	header := testBody[:strings.Index(testBody, "\r\n\r\n")+4]
	for _, tc := range []struct {
		ret, wantType, wantBody string
	}{
		{"HDRS", "text/rfc822-headers", header},
		{"FULL", "message/rfc822", testBody},
	} {
		t.Run(tc.ret, func(t *testing.T) {
			h := newHarness(t)
			s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
			h.opt.Config.Relay = s.addr
			h.start()
			m := msg("s@origin.test", "bad@dest.test")
			m.DSNRet = tc.ret
			h.enqueue(m)
			d := waitReport(t, s)
			if d.types[2] != tc.wantType || string(d.bodies[2]) != tc.wantBody {
				t.Errorf("RET=%s returned %s %q, want %s %q", tc.ret, d.types[2], d.bodies[2], tc.wantType, tc.wantBody)
			}
			if tc.ret == "HDRS" && strings.Contains(d.msg.body, "Hello.") {
				t.Error("RET=HDRS returned the body")
			}
		})
	}
}

func TestNullSenderGetsNoReport(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("", "bad@dest.test"))
	if r := rcpt(h.recorded(id), "bad@dest.test"); r.Status != envelope.RcptFailed {
		t.Fatalf("%+v", r)
	}
	if q := h.queued(); len(q) != 0 {
		t.Errorf("queue holds %+v, want nothing: a bounce is never bounced", q)
	}
}

func TestDoubleBounceToPostmasterThenDropped(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test", "postmaster@dest.test")})
	h.opt.Config.Relay = s.addr
	h.opt.Bounce.DoubleBounceTo = "postmaster@dest.test"
	reports := make(chan *envelope.Message, 10)
	h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		reports <- r.Clone()
		return pipeline.BounceResult{Body: body}, nil
	}
	h.start()
	id := h.enqueue(msg("", "bad@dest.test"))
	h.recorded(id)
	var r *envelope.Message
	select {
	case r = <-reports:
	case <-time.After(waitLimit):
		t.Fatal("no double bounce")
	}
	if r.Report != envelope.ReportDoubleBounce || r.From != "" || len(r.Rcpts) != 1 || r.Rcpts[0].Addr != "postmaster@dest.test" {
		t.Fatalf("report %+v, want a double bounce from <> to the postmaster", r)
	}
	// The postmaster refuses it too: it is dropped, never reported on.
	if rr := h.recorded(r.ID).Rcpts[0]; rr.Status != envelope.RcptFailed {
		t.Fatalf("double bounce: %+v", rr)
	}
	if q := h.queued(); len(q) != 0 {
		t.Errorf("queue holds %+v after the double bounce failed, want nothing", q)
	}
	if len(reports) != 0 {
		t.Errorf("a report on the double bounce was built: %+v", <-reports)
	}
}

func TestBounceHook(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test", "drop@dest.test")})
	h.opt.Config.Relay = s.addr
	var mu sync.Mutex
	var seen []*envelope.Message
	h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Clone())
		if strings.Contains(string(body), "drop@dest.test") {
			return pipeline.BounceResult{Drop: true}, nil
		}
		return pipeline.BounceResult{Body: bytes.Replace(body, []byte("Subject: "), []byte("X-Filtered: yes\r\nSubject: "), 1)}, nil
	}
	h.start()
	dropID := h.enqueue(msg("s@origin.test", "drop@dest.test"))
	h.recorded(dropID)
	if q := h.queued(); len(q) != 0 {
		t.Fatalf("queue holds %+v, want nothing: the hook dropped the report", q)
	}
	h.enqueue(msg("s@origin.test", "bad@dest.test"))
	d := waitReport(t, s)
	if d.header.Get("X-Filtered") != "yes" {
		t.Error("the hook's rewrite did not reach the wire")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[1].From != "" || seen[1].Report != envelope.ReportDSN {
		t.Errorf("the hook saw %+v", seen)
	}
}

func TestAdminBounce(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "held@dest.test", "done@dest.test")
	m.State = envelope.StateHeld
	m.Rcpts[1].Status = envelope.RcptDelivered
	id := h.enqueue(m)

	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: h.q, NotFound: queue.ErrNotFound, Bounce: h.agent.Bounce}))
	defer srv.Close()
	post := func(id string) int {
		resp, err := http.Post(srv.URL+"/api/queue/"+id+"/bounce", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(id); code != http.StatusOK {
		t.Fatalf("POST bounce: %d", code)
	}
	if !h.gone(id) {
		t.Error("the bounced message is still queued")
	}
	// sluice trace ID tells the bounce beside the attempts.
	if tr, err := h.q.Trace(id); err != nil || !strings.Contains(string(tr), `"destination":"administrator"`) ||
		!strings.Contains(string(tr), "Bounced by administrator") {
		t.Errorf("trace %s (%v): no administrator's bounce", tr, err)
	}
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	if len(d.rcpts) != 1 {
		t.Fatalf("%d recipient blocks, want only the pending recipient", len(d.rcpts))
	}
	r := d.rcpt(t, "held@dest.test")
	if r.Get("Action") != "failed" || r.Get("Status") != "5.0.0" || !strings.Contains(r.Get("Diagnostic-Code"), "Bounced by administrator") {
		t.Errorf("recipient block %v", r.Map())
	}
	if code := post(id); code != http.StatusNotFound {
		t.Errorf("second POST bounce: %d, want 404", code)
	}
}

// An administrator's bounce while an attempt of the message runs waits for
// it and, when the attempt runs on, is refused (409): the attempt delivers
// it, and the sender is not told it failed. Once the attempt is over the
// message is gone; nothing bounces.
func TestAdminBounceDuringAttempt(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	s := h.sinkAt("127.0.0.1", sinkOptions{dataGate: gate})
	h.opt.Config.Relay = s.addr
	h.start()
	h.agent.bounceWait = 50 * time.Millisecond
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	select {
	case <-s.inData:
	case <-time.After(waitLimit):
		t.Fatal("delivery did not reach DATA")
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: h.q, NotFound: queue.ErrNotFound, Bounce: h.agent.Bounce,
		Conflicts: []error{ErrInProgress}}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/queue/"+id+"/bounce", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("POST bounce during the attempt: %d, want 409", resp.StatusCode)
	}
	close(gate)
	got := waitMsg(t, s)
	if got.from != "s@origin.test" {
		t.Fatalf("delivered %+v, want the message itself", got)
	}
	if m := h.recorded(id); m != nil && !m.Done() {
		t.Fatalf("after the attempt: %+v", m)
	}
	select {
	case extra := <-s.arrived:
		t.Fatalf("a second message arrived (a bounce?): from %q", extra.from)
	default:
	}
}

// startDSNSink is startSink for a server that advertises DSN (RFC 3461).
func startDSNSink(t *testing.T, addr string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: ln.Addr().String(), rcptN: map[string]int{},
		arrived: make(chan sinkMsg, 100), inData: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s, conn: c}, nil
	}))
	srv.Domain = "dsn-sink.test"
	srv.EnableDSN = true
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	go func() { _ = srv.Serve(&countingListener{Listener: ln, sink: s}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func TestSuccessToDSNHopIsLeftToIt(t *testing.T) {
	h := newHarness(t)
	s := startDSNSink(t, "127.0.0.1:0")
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "tell@dest.test")
	m.Rcpts[0].Notify = []string{"SUCCESS"}
	m.DSNEnvID = "E1"
	id := h.enqueue(m)
	if got := waitMsg(t, s); got.opts.EnvelopeID != "E1" {
		t.Errorf("ENVID not passed on to a DSN hop: %+v", got.opts)
	}
	h.recorded(id)
	if q := h.queued(); len(q) != 0 {
		t.Errorf("queue holds %+v: the DSN hop reports success, not us", q)
	}
}

// Every report carries Sluice's Received field as its first (RFC 5321
// §4.4: Sluice originates it), with the report's queue id and the queue
// clock's date, already when the bounce hook sees it.
func TestReportStartsWithReceived(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: reject550("bad@dest.test")})
	h.opt.Config.Relay = s.addr
	hooked := make(chan string, 1)
	h.opt.Bounce.Filter = func(_ context.Context, r *envelope.Message, body []byte) (pipeline.BounceResult, error) {
		first, _, _ := strings.Cut(string(body), "\r\n")
		hooked <- r.ID + " " + first
		return pipeline.BounceResult{}, nil
	}
	h.start()
	h.enqueue(msg("s@origin.test", "bad@dest.test"))
	d := waitReport(t, s)
	seen := <-hooked
	id, hookFirst, _ := strings.Cut(seen, " ")
	want := "Received: by mta.sluice.test (Sluice) id " + id + ";\r\n\t" + h.clock.Now().Format(time.RFC1123Z) + "\r\n"
	if !strings.HasPrefix(d.msg.body, want) {
		t.Errorf("delivered report starts %q, want %q", d.msg.body[:min(len(d.msg.body), len(want))], want)
	}
	if wantFirst, _, _ := strings.Cut(want, "\r\n"); hookFirst != wantFirst {
		t.Errorf("the bounce hook saw the report start %q, want %q", hookFirst, wantFirst)
	}
}

// An LMTP server is final delivery: a recipient that asked for
// NOTIFY=SUCCESS gets a "delivered" report when the server does not offer
// DSN (RFC 3461 §5.2.2; Dovecot's LMTP does not), as Postfix's LMTP client
// sends. Before, no report was sent at all.
func TestSuccessToNonDSNLMTPIsDelivered(t *testing.T) {
	l := startLMTP(t, "tcp", "127.0.0.1:0", &lmtpServer{reply: func(string) error { return nil }})
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr // where the report goes
	h.start()
	route := "lmtp:tcp:" + l.addr
	m := withRoutes("s@origin.test", "tell@mail.test", route, "plain@mail.test", route)
	m.Rcpts[0].Notify = []string{"SUCCESS"}
	id := h.enqueue(m)
	rec := h.recorded(id)
	for _, a := range []string{"tell@mail.test", "plain@mail.test"} {
		if r := rcpt(rec, a); r.Status != envelope.RcptDelivered {
			t.Fatalf("%s: %+v, want delivered", a, r)
		}
	}
	d := waitReport(t, s)
	checkReportEnvelope(t, d, "s@origin.test")
	if len(d.rcpts) != 1 {
		t.Fatalf("%d recipient blocks, want 1: only tell@ asked for SUCCESS", len(d.rcpts))
	}
	r := d.rcpt(t, "tell@mail.test")
	for k, want := range map[string]string{
		"Action":     "delivered", // final delivery, not "relayed"
		"Status":     "2.0.0",
		"Remote-MTA": "dns; 127.0.0.1",
	} {
		if got := r.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(r.Get("Diagnostic-Code"), "smtp; 250 ") {
		t.Errorf("Diagnostic-Code %q", r.Get("Diagnostic-Code"))
	}
}
