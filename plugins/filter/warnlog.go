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
// lines get half of that budget in any 30 s: past it the matches are
// counted per rule and, 30 s after the first held back, logged as one
// line per rule with the count. Every match is still in the verdict's reason (the trace).
const (
	warnLogBurst    = 5000
	warnLogInterval = 30 * time.Second
)

// warnLimit lets at most burst warn lines through in any interval, and
// counts, per rule, the matches it held back. The interval slides (the
// times of the last burst lines are kept): the core's window is not the
// plugin's, so fixed windows of its own let burst lines through at the
// end of one and burst more at the start of the next, twice the budget
// within one window of the core's.
type warnLimit struct {
	interval time.Duration
	burst    int

	mu        sync.Mutex
	sent      []time.Time    // the last lines let through, up to burst; a ring once full
	next      int            // the oldest of sent, once it is full
	held      map[string]int // rule name → matches not logged since heldSince
	heldSince time.Time
}

func newWarnLimit() *warnLimit {
	return &warnLimit{interval: warnLogInterval, burst: warnLogBurst}
}

// roll returns, by rule, the matches held back once interval has passed
// since the first of them (nil for nothing), and starts counting anew.
func (l *warnLimit) roll(now time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil || now.Sub(l.heldSince) < l.interval {
		return nil
	}
	held := l.held
	l.held = nil
	return held
}

// admit reports whether a line for a match of rule may be logged at now,
// fewer than burst having been in the interval before it, and counts it
// as held back when not.
func (l *warnLimit) admit(rule string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case len(l.sent) < l.burst:
		l.sent = append(l.sent, now)
		return true
	case now.Sub(l.sent[l.next]) >= l.interval:
		l.sent[l.next] = now
		l.next = (l.next + 1) % l.burst
		return true
	}
	if l.held == nil {
		l.held, l.heldSince = map[string]int{}, now
	}
	l.held[rule]++
	return false
}

// logWarns logs the matches of the warn rules among adds, within the
// warn lines' budget, and the matches held back once interval has passed
// since the first of them; verdict calls it, and Rcpt when greylisting
// fails the call and no verdict is made. The count comes with the first
// hook call after that, as the core's own "dropped" line does.
func (p *Plugin) logWarns(adds []hit, s *scope) {
	now := p.now()
	held := p.warns.roll(now)
	for _, rule := range slices.Sorted(maps.Keys(held)) {
		p.log.Warn("filter: warn rule matches not logged: over the warn line limit",
			"rule", rule, "matches", held[rule], "limit", p.warns.burst, "per", p.warns.interval.String())
	}
	for _, h := range adds {
		if h.r.action == actWarn && p.warns.admit(h.r.name, now) {
			p.logWarn(h, s)
		}
	}
}
