package dmarc

import (
	"os"
	"path/filepath"
	"time"
)

// defaultMaxHistory bounds the history of all days together: a line is
// some 300 to 600 bytes, so about two million evaluations, kept for a
// week at most (reportKeepDays) while reports cannot be sent.
const defaultMaxHistory = 1 << 30

// historyRemeasure is how often, at most, a full history is measured
// again on disk: the sender removes the days it has sent, and a
// reload's other process of the stage appends to the same files, so the
// count kept in memory drifts.
const historyRemeasure = time.Minute

// historyRoom says whether n more bytes of day's evaluations may be
// recorded under max_history_bytes; r.mu is held. Past the bound an
// evaluation is dropped, with one warning per day: the day's report is
// then made from the evaluations recorded before, each counted right,
// a true report of part of the day.
func (r *reporter) historyRoom(day string, n int64, now time.Time) bool {
	limit := r.cfg.MaxHistoryBytes
	if r.histBytes+n <= limit {
		return true
	}
	if now.Sub(r.histMeasured) >= historyRemeasure || now.Before(r.histMeasured) {
		r.histBytes, r.histMeasured = r.historySize(), now
		if r.histBytes+n <= limit {
			return true
		}
	}
	if r.fullDay != day {
		r.fullDay = day
		r.log.Warn("dmarc reports: the history is at max_history_bytes; the day's further evaluations are not recorded, and its reports will count only those before", "day", day, "max_history_bytes", limit)
	}
	return false
}

// historySize is the size of the history files of every day.
func (r *reporter) historySize() int64 {
	names, _ := filepath.Glob(filepath.Join(r.dir, "history-*.jsonl"))
	var n int64
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil {
			n += fi.Size()
		}
	}
	return n
}
