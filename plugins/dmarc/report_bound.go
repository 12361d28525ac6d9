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
		r.measure(day)
		r.histMeasured = now
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

// measure takes the history's size from the disk, day's file (the one
// being written) on its own too (noteDaySize); r.mu is held, or the
// reporter is not yet shared.
func (r *reporter) measure(day string) {
	r.histBytes = r.historySize()
	r.histDay, r.histDaySize = day, r.fileSize(r.historyPath(day))
}

// noteDaySize counts what was appended to day's file since this process
// last knew its size: a reload's other process of the stage appends to
// it as well, and each counting only its own lines, the two together
// filled the disk to twice the bound. One stat an evaluation, beside
// the append's own open and stat. r.mu is held.
func (r *reporter) noteDaySize(day string) {
	size := r.fileSize(r.historyPath(day))
	if day == r.histDay {
		r.histBytes += size - r.histDaySize
	} else {
		// A new day: its file was not there when the history was
		// measured, or was made by the other process since.
		r.histBytes += size
	}
	r.histDay, r.histDaySize = day, size
}

func (r *reporter) fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// historySize is the size of the history files of every day.
func (r *reporter) historySize() int64 {
	names, _ := filepath.Glob(filepath.Join(r.dir, "history-*.jsonl"))
	var n int64
	for _, name := range names {
		n += r.fileSize(name)
	}
	return n
}
