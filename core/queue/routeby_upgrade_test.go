package queue

import (
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// oldRouted is the message of testdata/queue-2793bf1-parent.txt.
const oldRouted = "33PB5A8W3Q1R712Y65F1"

// A message queued before recipients kept route_by (2793bf1) loads with
// each recipient's route and no stage named as its owner, which lets any
// stage change it at the deliver hook; a route_by stored with a route
// changed at deliver (delivery's noteRoute, in the commit recording the
// attempt) is kept across a restart.
func TestUpgradeQueueWithoutRouteBy(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)}
	s, dir := openCaptured(t, "testdata/queue-2793bf1-parent.txt", clk)
	m, err := s.Get(oldRouted)
	if err != nil {
		t.Fatal(err)
	}
	q, a := m.Rcpts[0], m.Rcpts[1]
	if q.Route != "smtp:quarantine.internal:25" || q.RouteBy != "" || a.Route != "" || a.RouteBy != "" || q.Attempts != 1 || len(m.Pending()) != 2 {
		t.Fatalf("old message's recipients: %+v", m.Rcpts)
	}
	if ids, _, err := s.Due(clk.Now(), 10, nil); err != nil || len(ids) != 1 || ids[0] != oldRouted {
		t.Fatalf("due: %v %v", ids, err)
	}
	if _, err := s.Modify(oldRouted, func(m *envelope.Message) error {
		m.Rcpts[0].Route, m.Rcpts[0].RouteBy = "smtp:quarantine2.internal:25", "quarantine"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m, err = s2.Get(oldRouted)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Rcpts[0]; r.Route != "smtp:quarantine2.internal:25" || r.RouteBy != "quarantine" {
		t.Fatalf("after a restart: %+v, want the route and route_by stored", r)
	}
}
