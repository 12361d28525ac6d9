package pipeline

import (
	"sort"
	"sync"
	"time"
)

// stats counts one stage's calls, errors and recent latencies.
type stats struct {
	mu       sync.Mutex
	calls    int64
	errors   int64
	verdicts map[string]int64
	// dry counts what the stage would have done in dry run (dryrun.go).
	dry  map[string]int64
	ring [1024]time.Duration
	n    int // samples written (ring index = n % len)
	// outcomes are the stage's outcome notifications waiting for a call
	// (outcome.go): kept with the counters, so that a reload that keeps
	// the stage keeps its queue and its bound.
	outcomes outcomeQueue
}

func (s *stats) record(d time.Duration, action string, failed bool) {
	s.mu.Lock()
	s.calls++
	if failed {
		s.errors++
	}
	if s.verdicts == nil {
		s.verdicts = map[string]int64{}
	}
	s.verdicts[action]++
	s.ring[s.n%len(s.ring)] = d
	s.n++
	s.mu.Unlock()
}

// snapshot returns counters and the p50/p99 of the recent latencies.
func (s *stats) snapshot() (calls, errors int64, verdicts map[string]int64, p50, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n
	if n > len(s.ring) {
		n = len(s.ring)
	}
	lat := append([]time.Duration(nil), s.ring[:n]...)
	verdicts = make(map[string]int64, len(s.verdicts))
	for k, v := range s.verdicts {
		verdicts[k] = v
	}
	if n > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 = nearestRank(lat, 50), nearestRank(lat, 99)
	}
	return s.calls, s.errors, verdicts, p50, p99
}

// nearestRank is the p-th percentile of sorted by the nearest-rank
// method: the smallest value with at least p% of the values at or below
// it, so the p99 of a few samples is their largest, never their smallest.
func nearestRank(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n), 1-based
	return sorted[max(rank, 1)-1]
}

// StageStatus is one stage as GET /api/pipeline shows it.
type StageStatus struct {
	Name     string           `json:"name"`
	Kind     string           `json:"kind"`
	Target   string           `json:"target,omitempty"`
	State    string           `json:"state"`
	Calls    int64            `json:"calls"`
	Errors   int64            `json:"errors"`
	Restarts int              `json:"restarts"`
	Verdicts map[string]int64 `json:"verdicts"`
	P50      string           `json:"latency_p50"`
	P99      string           `json:"latency_p99"`
	P50ms    float64          `json:"latency_p50_ms"`
	P99ms    float64          `json:"latency_p99_ms"`
	Timeout  string           `json:"timeout"`
	// DataTimeout is the data hook's (data_timeout).
	DataTimeout string `json:"data_timeout"`
	OnError     string `json:"on_error"`
	// Listeners are those whose sessions the stage serves (its
	// listeners); none: every listener's.
	Listeners []string `json:"listeners,omitempty"`
	// SkipNetworks are the clients the stage does not serve (its
	// skip_networks).
	SkipNetworks []string `json:"skip_networks,omitempty"`
	// OutcomeDropped counts the outcome notifications dropped because
	// the stage's queue of them was full (outcome.go).
	OutcomeDropped int64 `json:"outcome_dropped,omitempty"`
	// DryRun: the stage's verdicts are recorded, not applied (its
	// dry_run); DryRunVerdicts counts what it would have done, by action
	// or "error", since it started in dry run or a reload put it in it.
	DryRun         bool             `json:"dry_run,omitempty"`
	DryRunVerdicts map[string]int64 `json:"dry_run_verdicts,omitempty"`
}

// recordDry counts a dry-run answer's would-be action.
func (s *stats) recordDry(would string) {
	s.mu.Lock()
	if s.dry == nil {
		s.dry = map[string]int64{}
	}
	s.dry[would]++
	s.mu.Unlock()
}

// resetDry forgets the dry-run counts.
func (s *stats) resetDry() {
	s.mu.Lock()
	s.dry = nil
	s.mu.Unlock()
}

// drySnapshot copies the dry-run counts; nil when there are none.
func (s *stats) drySnapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dry) == 0 {
		return nil
	}
	out := make(map[string]int64, len(s.dry))
	for k, v := range s.dry {
		out[k] = v
	}
	return out
}
