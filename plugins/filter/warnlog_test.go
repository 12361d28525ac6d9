package filter

import (
	"strings"
	"testing"
	"time"
)

// TestWarnLinesLimited: past the warn lines' budget a warn rule's matches
// are not logged one by one, which would use up the core's log budget for
// the stage and drop its other lines with them; they are counted per rule
// and the counts logged once the window is over, at the first hook call
// after it. The trace (the verdict's reason) still has every match.
func TestWarnLinesLimited(t *testing.T) {
	clk := newClock()
	p, lines := warnPlugin(nil)
	p.now = clk.Now
	p.warns = &warnLimit{interval: 30 * time.Second, burst: 3}
	h := serve(t, p, `{"rules":[
		{"name":"try-sales","hook":"rcpt","match":"^sales@","action":"warn"},
		{"name":"try-org","hook":"rcpt","match":"@example\\.org$","action":"warn"}]}`)
	tx := txnFrom("192.0.2.10", "alice@example.net")

	// Three recipients, two warn matches each: the first three logged.
	for range 3 {
		v := h.Rcpt(tx, "sales@example.org")
		if !strings.Contains(v.Reason, `rule "try-sales" (warn)`) || !strings.Contains(v.Reason, `rule "try-org" (warn)`) {
			t.Fatalf("reason %q: the trace must name both matches, logged or not", v.Reason)
		}
	}
	recs := lines.Take(t)
	if len(recs) != 3 {
		t.Fatalf("%d lines %v, want the budget's 3", len(recs), recs)
	}
	for _, rec := range recs {
		if rec["msg"] != "filter: warn rule matched" {
			t.Errorf("line %v within the window, want warn lines only", rec)
		}
	}

	// The window is over: the next call, matching nothing, says what was
	// held back, one line per rule (try-sales, try-org, try-sales,
	// [try-org, try-sales, try-org] held).
	clk.Advance(30 * time.Second)
	h.Rcpt(tx, "bob@example.net")
	recs = lines.Take(t)
	want := map[string]float64{"try-org": 2, "try-sales": 1}
	if len(recs) != len(want) {
		t.Fatalf("%d lines %v, want one per rule held back", len(recs), recs)
	}
	for _, rec := range recs {
		rule, _ := rec["rule"].(string)
		if rec["msg"] != "filter: warn rule matches not logged: over the warn line limit" || rec["level"] != "WARN" ||
			rec["matches"] != want[rule] || rec["limit"] != float64(3) || rec["per"] != "30s" {
			t.Errorf("line %v, want rule %q's count of matches not logged at WARN", rec, rule)
		}
		delete(want, rule)
	}

	// A new window logs again, and the counts were said once.
	h.Rcpt(tx, "sales@example.net")
	wantWarned(t, "next window", lines.Take(t), map[string]string{"rule": "try-sales", "rcpt": "sales@example.net"})
}

// The budget holds for any 30 s, not per fixed window of the plugin's
// own: the core's window (10,000 lines) does not start with it, so 5,000
// lines at the end of one plugin window and 5,000 at the start of the
// next all fell in one core window, the whole of its budget, and the
// stage's other lines were dropped again. Here: one line at 0 s, two at
// 29 s; at 30 s only the slot of the line at 0 s is free.
func TestWarnLinesLimitedInAny30s(t *testing.T) {
	clk := newClock()
	p, lines := warnPlugin(nil)
	p.now = clk.Now
	p.warns = &warnLimit{interval: 30 * time.Second, burst: 3}
	h := serve(t, p, `{"rules":[{"name":"try-sales","hook":"rcpt","match":"^sales@","action":"warn"}]}`)
	tx := txnFrom("192.0.2.10", "alice@example.net")
	match := func(n int) int {
		for range n {
			h.Rcpt(tx, "sales@example.net")
		}
		got := 0
		for _, rec := range lines.Take(t) {
			if rec["msg"] == "filter: warn rule matched" {
				got++
			}
		}
		return got
	}
	if n := match(1); n != 1 {
		t.Fatalf("at 0 s: %d lines, want 1", n)
	}
	clk.Advance(29 * time.Second)
	if n := match(2); n != 2 {
		t.Fatalf("at 29 s: %d lines, want 2", n)
	}
	clk.Advance(time.Second)
	if n := match(3); n != 1 {
		t.Fatalf("at 30 s: %d lines, want 1: the 2 of 29 s are within the last 30 s", n)
	}
	clk.Advance(29 * time.Second) // 59 s: the lines of 29 s are 30 s old
	if n := match(3); n != 2 {
		t.Fatalf("at 59 s: %d lines, want 2", n)
	}
}
