package queue

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Ids in testdata/queue-81524eb.txt.
const (
	old81Deferred = "33PB5A8W3Q1R712Y65F0" // d1, two attempts, DSN parameters
	old81Held     = "33PB5A8Y4ER9DMS57F0G" // h1
	old81Quar     = "33PB5A8YVCHWE357PF4G" // q1
	old81Partly   = "33PB5A8ZT3D7F5513FQ0" // ok1 delivered, d2 and d3 pending
	old81UTF8     = "33PB5A90E27MMVV7KX8G" // SMTPUTF8, BODY=8BITMIME
	old81Report   = "33PB5A92SMYMS1GNS4M0" // a DSN, no trace
)

// openCaptured writes the keys of a captured queue into a fresh Pebble
// directory as its binary left them (no counts keys), and opens it the way
// the current binary does after an upgrade.
func openCaptured(t *testing.T, fixture string, clk *fakeClock) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		qk, qv, ok := strings.Cut(sc.Text(), "\t")
		k, err1 := strconv.Unquote(qk)
		v, err2 := strconv.Unquote(qv)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("%s: bad line %q", fixture, sc.Text())
		}
		if err := db.Set([]byte(k), []byte(v), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := sc.Err(); err != nil || n == 0 {
		t.Fatalf("%s: %d keys, %v", fixture, n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatalf("open a queue written by an older sluice: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// A queue written by an old binary opens with every message in its state,
// its recipients, attempts, schedule and DSN parameters; the counts, which
// that binary did not keep, come from a scan.
func TestUpgradeQueueOf81524eb(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)}
	s, dir := openCaptured(t, "testdata/queue-81524eb.txt", clk)

	c, _ := s.Counts()
	if c[envelope.StateActive] != 4 || c[envelope.StateHeld] != 1 || c[envelope.StateQuarantined] != 1 || len(c) != 3 {
		t.Fatalf("counts %v, want 4 active, 1 held, 1 quarantined", c)
	}
	all, err := s.List(0)
	if err != nil || len(all) != 6 {
		t.Fatalf("list: %d messages, %v", len(all), err)
	}
	get := func(id string) *envelope.Message {
		t.Helper()
		m, err := s.Get(id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return m
	}
	m := get(old81Deferred)
	r := m.Rcpts[0]
	if m.State != envelope.StateActive || m.Attempts != 2 || r.Attempts != 2 || r.Status != envelope.RcptPending ||
		strings.Join(r.Notify, ",") != "SUCCESS,FAILURE,DELAY" || r.ORcpt != "RFC822;orig-d1@dst.test" ||
		m.DSNRet != "HDRS" || m.DSNEnvID != "env-m1" || !m.Body8Bit {
		t.Errorf("deferred message: %+v", m)
	}
	if m := get(old81Held); m.State != envelope.StateHeld || m.Rcpts[0].Attempts != 1 {
		t.Errorf("held message: %+v", m)
	}
	if m := get(old81Quar); m.State != envelope.StateQuarantined || m.DSNRet != "FULL" || m.DSNEnvID != "env-m3" {
		t.Errorf("quarantined message: %+v", m)
	}
	m = get(old81Partly)
	if len(m.Pending()) != 2 || m.Rcpts[0].Addr != "ok1@dst.test" || m.Rcpts[0].Status != envelope.RcptDelivered {
		t.Errorf("partly delivered message: %+v", m.Rcpts)
	}
	if m := get(old81UTF8); !m.SMTPUTF8 || !m.Body8Bit || m.From != "sénder@src.test" {
		t.Errorf("SMTPUTF8 message: %+v", m)
	}
	if m := get(old81Report); m.From != "" || m.Rcpts[0].Addr != "sender@src.test" {
		t.Errorf("report: %+v", m)
	}
	if b, err := s.Body(old81Deferred); err != nil || !strings.Contains(string(b), "Message-ID: <m1@t>") {
		t.Errorf("body: %v %q", err, b)
	}

	// The schedule index is the old one: the active messages, by their
	// next attempt, and each entry where its envelope says.
	ids, _, err := s.Due(clk.Now().Add(time.Hour), 100, nil)
	if err != nil || strings.Join(ids, " ") != old81Partly+" "+old81Deferred+" "+old81Report+" "+old81UTF8 {
		t.Fatalf("due: %v %v", ids, err)
	}
	for _, id := range ids {
		if early, _, _ := s.Due(get(id).NextAttempt.Add(-time.Nanosecond), 100, func(x string) bool { return x != id }); len(early) != 0 {
			t.Errorf("%s due before its next attempt", id)
		}
	}

	if tr, err := s.Trace(old81Deferred); err != nil || !strings.Contains(string(tr), `"hook":"rcpt"`) {
		t.Errorf("trace of a message received by the old binary: %v %s", err, tr)
	}
	// That binary kept no trace for a report: the message is there, the
	// trace is not, and the answer says so instead of "no such message".
	_, err = s.Trace(old81Report)
	var nt *NoTraceError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &nt) || !strings.Contains(err.Error(), "is queued but has no trace") {
		t.Errorf("trace of a queued report without one: %v", err)
	}
	if _, err := s.Trace("0123456789ABCDEFGHJK"); err != ErrNotFound {
		t.Errorf("trace of an unknown message: %v, want ErrNotFound itself", err)
	}

	// Released, retried and delivered under the new binary, once each.
	if err := s.Release(old81Held); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(old81Quar); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{old81Deferred, old81Held, old81Quar, old81Partly, old81UTF8} {
		if _, err := s.Modify(id, func(m *envelope.Message) error {
			for _, r := range m.Pending() {
				r.Status, r.Attempts = envelope.RcptDelivered, r.Attempts+1
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c, _ = s2.Counts()
	left, _ := s2.List(0)
	if c[envelope.StateActive] != 1 || c[envelope.StateHeld] != 0 || c[envelope.StateQuarantined] != 0 || len(left) != 1 || left[0].ID != old81Report {
		t.Fatalf("after delivery and reopen: counts %v, left %d", c, len(left))
	}
}
