package filter

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// The core logs at most 10,000 lines of a stage's output per 30 s
// (core/plugin's lineLimit, journald's default) and drops the rest,
// whatever they say: a warn rule that matches a busy server's mail, a
// line per recipient at rcpt, used all of it, and the stage's other
// lines — greylisting's state directory failing — were dropped with
// the flood, the log saying only how many lines went. So the warn
// lines get half of that budget: past it the matches are counted per
// rule and, once the window is over, logged as one line per rule with
// the count. Every match is still in the verdict's reason (the trace).
const (
	warnLogBurst    = 5000
	warnLogInterval = 30 * time.Second
)

// warnLimit lets burst warn lines through per interval and counts, per
// rule, the matches it held back.
type warnLimit struct {
	interval time.Duration
	burst    int

	mu    sync.Mutex
	start time.Time      // the current window's
	n     int            // lines let through in it
	held  map[string]int // rule name → matches not logged in it
}

func newWarnLimit() *warnLimit {
	return &warnLimit{interval: warnLogInterval, burst: warnLogBurst}
}

// roll starts a new window when the current one is over at now and
// returns what the one that ended held back, by rule (nil for nothing).
func (l *warnLimit) roll(now time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) < l.interval {
		return nil
	}
	held := l.held
	l.start, l.n, l.held = now, 0, nil
	return held
}

// admit reports whether a line for a match of rule may be logged in
// the current window, and counts it as held back when not.
func (l *warnLimit) admit(rule string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n < l.burst {
		l.n++
		return true
	}
	if l.held == nil {
		l.held = map[string]int{}
	}
	l.held[rule]++
	return false
}

// logWarns logs the matches of the warn rules among adds, within the
// warn lines' budget, and what the last window held back once it is
// over; verdict calls it, and Rcpt when greylisting fails the call and
// no verdict is made. The count comes with the first hook call after
// the window, as the core's own "dropped" line does.
func (p *Plugin) logWarns(adds []hit, s *scope) {
	held := p.warns.roll(p.now())
	for _, rule := range slices.Sorted(maps.Keys(held)) {
		p.log.Warn("filter: warn rule matches not logged: over the warn line limit",
			"rule", rule, "matches", held[rule], "limit", p.warns.burst, "per", p.warns.interval.String())
	}
	for _, h := range adds {
		if h.r.action == actWarn && p.warns.admit(h.r.name) {
			p.logWarn(h, s)
		}
	}
}
