package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// shapeNow is the clock of the shape tests' admin API.
var shapeNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// shapeServer serves an empty queue's admin API with its clock at
// shapeNow.
func shapeServer(t *testing.T) (*httptest.Server, *queue.Store) {
	t.Helper()
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv := httptest.NewServer(Handler(Options{Queue: q, Clock: func() time.Time { return shapeNow }}))
	t.Cleanup(srv.Close)
	return srv, q
}

// shapeMsg queues a message received age before shapeNow.
func shapeMsg(t *testing.T, q *queue.Store, age time.Duration, st envelope.State, from string, rcpts ...string) {
	t.Helper()
	m := &envelope.Message{ID: q.NewID(), From: from, Received: shapeNow.Add(-age), State: st}
	for _, r := range rcpts {
		status := envelope.RcptPending
		if a, ok := strings.CutPrefix(r, "delivered:"); ok {
			r, status = a, envelope.RcptDelivered
		}
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: r, Status: status})
	}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func getShape(t *testing.T, srv *httptest.Server, query string) *QueueShape {
	t.Helper()
	code, body := do(t, "GET", srv.URL+"/api/queue/shape"+query, "")
	var s QueueShape
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("GET /api/queue/shape%s: %d %s", query, code, body)
	}
	return &s
}

// row is a ShapeRow as the tests write it: domain, count, ages.
func row(domain string, ages ...int) ShapeRow {
	r := ShapeRow{Domain: domain, Ages: make([]int, len(ShapeBuckets))}
	copy(r.Ages, ages)
	for _, n := range ages {
		r.Count += n
	}
	return r
}

func sameRows(got, want []ShapeRow) bool {
	return slices.EqualFunc(got, want, func(a, b ShapeRow) bool {
		return a.Domain == b.Domain && a.Count == b.Count && slices.Equal(a.Ages, b.Ages)
	})
}

// The shape counts, by the API's clock, each pending recipient in its
// domain's age bucket (a delivered one not at all), or with by=sender each
// message in its sender's domain, "<>" for the null sender; busiest first,
// equal counts by name; the active messages unless state says otherwise.
func TestQueueShape(t *testing.T) {
	srv, q := shapeServer(t)
	shapeMsg(t, q, time.Minute, envelope.StateActive, "Alice@Example.ORG",
		"a@One.test", "b@one.test.", "delivered:c@one.test", "d@two.test")
	shapeMsg(t, q, 5*time.Minute, envelope.StateActive, "", "x@one.test")                 // 5 minutes is the second bucket's
	shapeMsg(t, q, 21*time.Minute, envelope.StateActive, "bob@example.org", "y@two.test") // 20 to 40
	shapeMsg(t, q, 1280*time.Minute, envelope.StateActive, "", "z@three.test")            // 1280+
	shapeMsg(t, q, -3*time.Minute, envelope.StateActive, "c@example.org", "f@two.test")   // a clock set back: the first
	shapeMsg(t, q, 2*time.Minute, envelope.StateHeld, "h@held.test", "h@held.test")

	s := getShape(t, srv, "")
	if s.State != "active" || s.By != "recipient" || !s.Now.Equal(shapeNow) || s.Messages != 5 || !slices.Equal(s.Buckets, ShapeBuckets) {
		t.Fatalf("shape: %+v", s)
	}
	if want := row("", 4, 1, 0, 1, 0, 0, 0, 0, 0, 1); !sameRows([]ShapeRow{s.Total}, []ShapeRow{want}) {
		t.Errorf("total %+v, want %+v", s.Total, want)
	}
	want := []ShapeRow{row("one.test", 2, 1), row("two.test", 2, 0, 0, 1), row("three.test", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)}
	if !sameRows(s.Domains, want) || s.Others.Count != 0 || s.OtherDomains != 0 || s.Capped {
		t.Errorf("by recipient: %+v, others %+v", s.Domains, s.Others)
	}

	s = getShape(t, srv, "?by=sender")
	want = []ShapeRow{row("example.org", 2, 0, 0, 1), row("<>", 0, 1, 0, 0, 0, 0, 0, 0, 0, 1)}
	if s.By != "sender" || !sameRows(s.Domains, want) || s.Total.Count != 5 || s.Messages != 5 {
		t.Errorf("by sender: %+v, total %+v", s.Domains, s.Total)
	}
	s = getShape(t, srv, "?state=held")
	if want := []ShapeRow{row("held.test", 1)}; s.State != "held" || !sameRows(s.Domains, want) || s.Messages != 1 {
		t.Errorf("held: %+v", s)
	}
	if s = getShape(t, srv, "?state=all"); s.State != "all" || s.Total.Count != 8 || s.Messages != 6 {
		t.Errorf("all: %+v", s)
	}
	// top: the rest in others; TOTAL still counts everything.
	s = getShape(t, srv, "?top=1")
	if !sameRows(s.Domains, []ShapeRow{row("one.test", 2, 1)}) {
		t.Errorf("top=1: %+v", s.Domains)
	}
	if want := row("", 2, 0, 0, 1, 0, 0, 0, 0, 0, 1); !sameRows([]ShapeRow{s.Others}, []ShapeRow{want}) || s.OtherDomains != 2 || s.Total.Count != 7 {
		t.Errorf("top=1 others %+v (%d domains), total %+v", s.Others, s.OtherDomains, s.Total)
	}
	// deferred: the active messages tried at least once, as Postfix's
	// deferred queue (qshape deferred).
	tried := &envelope.Message{ID: q.NewID(), From: "d@example.org", Received: shapeNow.Add(-time.Hour), State: envelope.StateActive, Attempts: 2,
		Rcpts: []envelope.Recipient{{Addr: "r@four.test", Status: envelope.RcptPending}}}
	if err := q.Enqueue(tried, []byte("x")); err != nil {
		t.Fatal(err)
	}
	s = getShape(t, srv, "?state=deferred")
	if want := []ShapeRow{row("four.test", 0, 0, 0, 0, 1)}; s.State != "deferred" || !sameRows(s.Domains, want) || s.Messages != 1 {
		t.Errorf("deferred: %+v", s)
	}
	if s = getShape(t, srv, ""); s.Messages != 6 {
		t.Errorf("active after a deferred one: %d messages, want 6", s.Messages)
	}
}

// Past MaxShapeDomains domains, the later ones are counted in others and
// the answer says so: the memory of a shape is bounded, however many
// domains a million messages go to.
func TestQueueShapeDomainCap(t *testing.T) {
	srv, q := shapeServer(t)
	var rcpts []string
	for i := range MaxShapeDomains + 5 {
		rcpts = append(rcpts, fmt.Sprintf("u@d%05d.test", i))
	}
	rcpts = append(rcpts, "v@d00000.test") // a kept domain, counted twice
	shapeMsg(t, q, time.Minute, envelope.StateActive, "a@example.org", rcpts...)
	s := getShape(t, srv, "?top=3")
	if !s.Capped || s.Total.Count != MaxShapeDomains+6 || len(s.Domains) != 3 || s.Domains[0].Domain != "d00000.test" {
		t.Fatalf("capped shape: capped %v, total %d, domains %+v", s.Capped, s.Total.Count, s.Domains)
	}
	if s.Domains[0].Count != 2 || s.Others.Count != MaxShapeDomains+6-4 || s.OtherDomains != MaxShapeDomains-3 {
		t.Fatalf("capped shape: first %+v, others %d in %d domains", s.Domains[0], s.Others.Count, s.OtherDomains)
	}
}

// A queue longer than one page of the pass is counted whole, each message
// once.
func TestQueueShapePages(t *testing.T) {
	srv, q := shapeServer(t)
	var qs []queue.Queued
	for range shapePage + 3 {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org", Received: shapeNow,
			Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
		qs = append(qs, queue.Queued{Msg: m, Body: []byte("x")})
	}
	if err := q.EnqueueMany(qs); err != nil {
		t.Fatal(err)
	}
	if s := getShape(t, srv, ""); s.Messages != shapePage+3 || s.Total.Count != shapePage+3 || len(s.Domains) != 1 || s.Domains[0].Count != shapePage+3 {
		t.Fatalf("shape of %d messages: %d messages, total %d, %+v", shapePage+3, s.Messages, s.Total.Count, s.Domains)
	}
}

// A bad parameter is a 400 naming it; the shape is read with GET only.
func TestQueueShapeBadParameters(t *testing.T) {
	srv, _ := shapeServer(t)
	for _, query := range []string{"?state=incoming", "?state=", "?by=domain", "?by=", "?top=0", "?top=x", "?top="} {
		code, body := do(t, "GET", srv.URL+"/api/queue/shape"+query, "")
		name, _, _ := strings.Cut(strings.TrimPrefix(query, "?"), "=")
		if code != http.StatusBadRequest || !strings.Contains(body, name) {
			t.Errorf("GET /api/queue/shape%s: %d %s, want 400 naming %s", query, code, body, name)
		}
	}
	if code, body := do(t, "POST", srv.URL+"/api/queue/shape", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/queue/shape: %d %s, want 405", code, body)
	}
}
