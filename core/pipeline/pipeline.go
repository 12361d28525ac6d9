package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/sdk"
)

// Pipeline is the ordered list of stages. It is safe for concurrent use;
// each SMTP session opens its own Session.
type Pipeline struct {
	entries []*entry
	log     *slog.Logger
	now     func() time.Time
	observe Observer
	// observeDry is told what stages in dry run would have done.
	observeDry DryRunObserver
	// delay holds hooks back until a decision is needed (delay.go).
	delay bool
	// deliverQ gathers concurrent deliver hook calls (deliverqueue.go).
	deliverQ deliverQueue
	// limited are the stages with a listeners list, serves those of them
	// each listener named in one has (listeners.go).
	limited stageSet
	serves  map[string]stageSet
	// skipNets are the stages with skip_networks (skipnet.go).
	skipNets []int
}

// Observer is told of every stage call (for metrics): the verdict's name,
// or "error" when the call failed.
type Observer func(stage string, hook sdk.Hook, verdict string, latency time.Duration, failed bool)

// SetObserver installs o; call it before the pipeline is used.
func (p *Pipeline) SetObserver(o Observer) { p.observe = o }

type entry struct {
	StageConfig
	stats *stats
}

// New builds a pipeline from stages in order.
func New(log *slog.Logger, stages ...StageConfig) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{log: log, now: time.Now}
	for _, s := range stages {
		if s.Timeout <= 0 {
			s.Timeout = 5 * time.Second
		}
		if s.DataTimeout <= 0 {
			s.DataTimeout = s.Timeout
		}
		if s.OnError == "" {
			s.OnError = config.OnErrorTempfail
		}
		p.entries = append(p.entries, &entry{StageConfig: s, stats: &stats{}})
	}
	p.indexListeners()
	p.indexSkipNetworks()
	return p
}

// Inherit carries old's counters and latencies over to p's stages that
// are the very same Stage under the same name (a reload that left the
// stage alone, see core/daemon), so GET /api/pipeline does not start
// again from zero. Call it before p is used.
func (p *Pipeline) Inherit(old *Pipeline) {
	if old == nil {
		return
	}
	for _, e := range p.entries {
		for _, o := range old.entries {
			if o.Name == e.Name && o.Stage == e.Stage {
				e.stats = o.stats
				if e.DryRun && !o.DryRun {
					// Put (back) in dry run: what it would do counts
					// from now, not from an earlier spell in dry run.
					e.stats.resetDry()
				}
			}
		}
	}
}

// Len returns the number of stages.
func (p *Pipeline) Len() int { return len(p.entries) }

// Status returns each stage's health and counters, in order.
func (p *Pipeline) Status() []StageStatus {
	out := make([]StageStatus, 0, len(p.entries))
	for _, e := range p.entries {
		calls, errs, verdicts, p50, p99 := e.stats.snapshot()
		state, restarts := e.Stage.Health()
		var dry map[string]int64
		if e.DryRun {
			dry = e.stats.drySnapshot() // none once it is out of dry run
		}
		out = append(out, StageStatus{
			Name: e.Name, Kind: e.Stage.Kind(), State: state, Calls: calls, Errors: errs,
			Restarts: restarts, Verdicts: verdicts, P50: p50.String(), P99: p99.String(),
			P50ms: ms(p50), P99ms: ms(p99), Timeout: e.Timeout.String(),
			DataTimeout: e.DataTimeout.String(), OnError: string(e.OnError), Listeners: e.Listeners,
			SkipNetworks:   prefixStrings(e.SkipNetworks),
			OutcomeDropped: e.stats.outcomes.droppedCount(),
			DryRun:         e.DryRun, DryRunVerdicts: dry,
		})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Outcome is the pipeline's decision at one hook.
type Outcome struct {
	Action sdk.Action
	Reply  *reply.Reply // set for reject and tempfail
}

// OK reports whether the SMTP step goes on (continue, accept, and at the
// data hook discard and quarantine).
func (o Outcome) OK() bool { return o.Reply == nil }

// Replies applied when a stage fails and on_error decides, or when a
// verdict carries no reply of its own.
var (
	replyStageTempfail = reply.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Temporary local problem, please try again later"}
	replyStageReject   = reply.Reply{Code: 554, Enhanced: [3]int{5, 3, 0}, Text: "Message refused by policy"}
	replyReject        = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Rejected by policy"}
	replyTempfail      = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "Try again later"}
)

// verdictReply turns a stage's reply into a typed one, defaulting and
// correcting a code of the wrong class.
func verdictReply(v sdk.Verdict) *reply.Reply {
	def := replyReject
	lo, hi := 500, 599
	if v.Action == sdk.ActionTempfail {
		def, lo, hi = replyTempfail, 400, 499
	}
	r := def
	if v.Reply != nil {
		if v.Reply.Code >= lo && v.Reply.Code <= hi {
			r.Code = v.Reply.Code
			r.Enhanced = [3]int{}
			if enh, ok := sdk.ParseEnhanced(v.Reply.Enhanced, r.Code/100); ok {
				r.Enhanced = enh
			} else {
				r.Enhanced = def.Enhanced
			}
		}
		if v.Reply.Text != "" {
			r.Text = "" // r.String() is then the line around the text
			r.Text = sanitizeText(v.Reply.Text, len(r.String()))
		}
	}
	r.Reason = v.Reason
	return &r
}

// sanitizeText keeps a stage's reply text on one line that a client can
// take: a line break becomes a space (a CR LF in it would end the reply
// and start another, an injected "250"); any other control character,
// which RFC 5321 §4.2's textstring (HT and %d32-126) does not allow and a
// terminal would act on (an escape sequence in the client's log), becomes
// "?"; and the text is cut so that the reply line, with its code, enhanced
// code and CRLF, fits RFC 5321 §4.5.3.1.5's 512 octets.
func sanitizeText(s string, prefix int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\r' || r == '\n':
			return ' '
		case r == '\t':
			return r
		case r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0:
			return '?'
		}
		return r
	}, s)
	if n := maxReplyLine - 2 - prefix; len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") // not half a character
	}
	return s
}

// maxReplyLine is the longest reply line, CRLF included (RFC 5321
// §4.5.3.1.5).
const maxReplyLine = 512

// errorOutcome applies a stage's on_error after a crash or timeout; ok
// means go on to the next stage.
func errorOutcome(e *entry, err error) (Outcome, bool) {
	switch e.OnError {
	case config.OnErrorContinue:
		return Outcome{}, true
	case config.OnErrorReject:
		return Outcome{Action: sdk.ActionReject, Reply: replyStageReject.With(fmt.Sprintf("stage %s: %v", e.Name, err))}, false
	default:
		return Outcome{Action: sdk.ActionTempfail, Reply: replyStageTempfail.With(fmt.Sprintf("stage %s: %v", e.Name, err))}, false
	}
}

// ErrStageDown is returned by a Conn whose stage is not running.
var ErrStageDown = errors.New("stage is down")
