package policy

import (
	"fmt"
	"math"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// Budget is how long a request to a server that does not answer takes
// before default_action answers for it: TryLimit tries of Timeout each,
// RetryDelay apart, as Postfix's attr_clnt_request tries it. The stage's
// timeout bounds the whole call (data_timeout at the data hook), so it
// must hold that too, or the last tries are cut short: a slow server
// (policyd-spf doing DNS look-ups) gets default_action sooner than
// Postfix would give it, and a try_limit of retries may never come.
type Budget struct {
	Timeout    time.Duration
	TryLimit   int
	RetryDelay time.Duration
}

// DefaultBudget is a stage's Budget when its config sets none of the
// three: Postfix's defaults (postconf(5)), 100s × 2 tries, 1s apart.
func DefaultBudget() Budget {
	return Budget{Timeout: defaultTimeout, TryLimit: defaultTryLimit, RetryDelay: defaultRetryDelay}
}

// Tries is the time the tries and the delays between them take.
func (b Budget) Tries() time.Duration {
	n := max(b.TryLimit, 1)
	return add(times(b.Timeout, n), times(b.RetryDelay, n-1))
}

// StageTimeout is the shortest stage timeout (or data_timeout) within
// which a call making requests requests, one after the other, gives the
// last one all its tries: the earlier ones' Tries, then the last one's
// and what request keeps back of the time left (reserve).
func (b Budget) StageTimeout(requests int) time.Duration {
	need := b.Tries()
	if need >= forever-maxReserve {
		return forever
	}
	x := need + maxReserve
	switch {
	case need < minReserve*9:
		x = need + minReserve
	case need < maxReserve*9:
		x = (need*10 + 8) / 9 // need / 0.9, rounded up
	}
	for x-reserve(x) < need { // integer division's last nanoseconds
		x++
	}
	return add(times(need, requests-1), x)
}

// TimeoutText is a stage timeout of at least d as a config writes it:
// in whole seconds, or milliseconds under one ("202s", "300ms"). What
// import-postfix writes, and what check-config and the daemon's warning
// ask for.
func TimeoutText(d time.Duration) string {
	ceil := func(unit time.Duration) time.Duration {
		n := d / unit
		if d%unit != 0 {
			n++
		}
		return n
	}
	if d < time.Second {
		return (ceil(time.Millisecond) * time.Millisecond).String()
	}
	return fmt.Sprintf("%ds", ceil(time.Second))
}

// Fits says whether a stage timeout of t gives every try of requests
// requests its time.
func (b Budget) Fits(t time.Duration, requests int) bool {
	return t >= b.StageTimeout(requests)
}

// Needs is what a policy stage's [stage.config] asks of its stage's
// timeouts: its Budget, and how many requests one call makes at most
// before the data hook (Call: 1, or 0 where hooks asks none there) and
// at it (Data: 2 with both data and end-of-data, asked in one call).
type Needs struct {
	Budget
	Call, Data int
}

// NeedsOf reads a policy stage's [stage.config], as JSON, with the
// defaults of the keys it leaves out, for `sluice check-config` to hold
// it against the stage's timeout and data_timeout, which the plugin is
// not told.
func NeedsOf(configJSON []byte) (Needs, error) {
	var cfg Config
	if err := (sdk.Config{JSON: configJSON}).Decode(&cfg); err != nil {
		return Needs{}, fmt.Errorf("policy: %w", err)
	}
	s, err := compile(cfg)
	if err != nil {
		return Needs{}, fmt.Errorf("policy: %w", err)
	}
	n := Needs{Budget: Budget{Timeout: s.timeout, TryLimit: s.tryLimit, RetryDelay: s.retryDelay}}
	for _, st := range []string{stateConnect, stateHelo, stateMail, stateRcpt} {
		if s.states[st] {
			n.Call = 1
		}
	}
	for _, st := range []string{stateData, stateEOM} {
		if s.states[st] {
			n.Data++
		}
	}
	return n, nil
}

// The bounds of reserve.
const (
	minReserve = 2 * time.Millisecond
	maxReserve = 250 * time.Millisecond
)

// reserve is what request keeps back of left, the call's time, so that
// default_action answers before the stage's timeout ends the call and
// its on_error would: a tenth, 2ms to 250ms.
func reserve(left time.Duration) time.Duration {
	return min(max(left/10, minReserve), maxReserve)
}

// forever is the longest time, which Budget's sums stop at rather than
// overflow (a try_limit of a billion).
const forever = time.Duration(math.MaxInt64)

// times is d × n, 0 for n < 1, forever past it.
func times(d time.Duration, n int) time.Duration {
	switch {
	case n < 1 || d <= 0:
		return 0
	case d > forever/time.Duration(n):
		return forever
	}
	return d * time.Duration(n)
}

// add is a + b (neither negative), forever past it.
func add(a, b time.Duration) time.Duration {
	if a > forever-b {
		return forever
	}
	return a + b
}
