package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluice-mta/sluice/sdk"
)

// BounceResult is what the bounce hook made of a generated report.
type BounceResult struct {
	// Body is the report to queue: as the stages left it, or as it was
	// generated when a stage failed or answered tempfail. Nil when the
	// report is dropped.
	Body []byte
	// Drop: a stage's deliberate reject or discard suppressed the report.
	Drop bool
	// Quarantine: a stage quarantined the report; it is queued in state
	// quarantined, as a message would be, for `sluice queue release`.
	Quarantine bool
	// Rcpts are the report's recipients when a stage replaced one
	// (bounceedit.go: the route plugin replaces an SRS address with the
	// sender it stands for), to queue it for; nil when they are as
	// generated.
	Rcpts []string
	// Routes are the transports stages set for the report's recipients
	// (sdk.SetRoute; by address, as in Rcpts when set), as the route
	// plugin routes a local sender's report to its mailbox server. Nil
	// when none was set or when the report is queued as generated.
	// RoutesBy names the stage that set each, queued with it: at the
	// deliver hook only that stage may change it (deliveredit.go).
	Routes   map[string]string
	RoutesBy map[string]string
	// Unchanged says why Body is the report as generated although a stage
	// was asked (a stage failed and its on_error stopped the hook, or a
	// stage answered tempfail), for a warning in the log; "" otherwise.
	Unchanged string
	// Trace is the bounce session's trace (a JSON Trace under the report's
	// id), stored with the report so that `sluice trace ID` shows what
	// the stages did; nil when no stage declared the hook.
	Trace []byte
}

// Bounce runs the bounce hook over a generated report (raw RFC 5322 bytes)
// whose queue id is id, addressed from from to rcpts: from is "", the
// null sender, for Sluice's own reports (RFC 5321 §4.5.5), and the
// plugin's sender for plugin mail, which stages see as the transaction's
// MailFrom (a dkim stage may sign by its domain, a route rule match it).
// Only the stages that declared the hook are asked (a milter never is,
// nor opened).
//
// A stage may replace a recipient of the report (bounceedit.go), which
// is then queued for the new one. Only a stage's deliberate verdict can
// suppress a report: reject or discard drops it, quarantine queues it
// quarantined (the later stages are still asked, and a later reject or
// discard still drops it). A failure of a stage (an error, a timeout, a
// panic, a dead plugin) never loses it: with on_error continue the next
// stage is asked, and with tempfail or reject, which would refuse an SMTP
// command, the report is queued as generated — without the edits of any
// stage, quarantined if an earlier stage quarantined it — and the warning
// is logged and traced. A tempfail verdict has no one to tell to try
// again: the report is queued as generated too. Accept skips the later
// stages, as at any hook.
func (p *Pipeline) Bounce(ctx context.Context, id, from string, rcpts []string, raw []byte) BounceResult {
	return p.BounceNoted(ctx, id, from, rcpts, raw, Notes{})
}

// BounceNoted is Bounce with the notes of the message the report is on,
// as it was queued, which the stages see as the session's and the
// transaction's.
func (p *Pipeline) BounceNoted(ctx context.Context, id, from string, rcpts []string, raw []byte, notes Notes) BounceResult {
	bp := p.bounceStages()
	if len(bp.entries) == 0 {
		return BounceResult{Body: raw}
	}
	s := bp.Open(ctx, sdk.Session{ID: "bounce-" + id, Listener: "bounce", Notes: notes.Session})
	defer s.closeConns() // a report's is no SMTP session: no disconnect
	s.txn.Envelope = sdk.Envelope{QueueID: id, MailFrom: from}
	s.txn.Notes = notes.Txn
	for _, r := range rcpts {
		s.txn.Envelope.Rcpts = append(s.txn.Envelope.Rcpts, sdk.Recipient{Addr: r})
	}
	msg := ParseMessage(raw)
	o := s.run(ctx, sdk.HookBounce, nil, msg)
	trace := s.Trace()
	if len(trace) == 0 {
		return BounceResult{Body: raw}
	}
	var res BounceResult
	var outcome string
	// run returns as soon as a stage decides; the last trace entry is that
	// stage's, and says whether it decided or failed. A quarantine before
	// it (which went on to the later stages) stays: the report is set
	// aside as a stage asked, as generated or as the stages left it.
	last := trace[len(trace)-1]
	quarantined := ""
	if s.disp.action == sdk.ActionQuarantine {
		res.Quarantine = true
		quarantined = "quarantined by stage " + s.disp.stage
	}
	switch {
	case o.Reply != nil && last.Action == "error":
		res.Body = raw
		res.Unchanged = fmt.Sprintf("stage %s failed (on_error %s): %s", last.Stage, last.OnError, last.Error)
		outcome = "queued as generated: " + res.Unchanged
	case o.Action == sdk.ActionTempfail:
		res.Body = raw
		res.Unchanged = fmt.Sprintf("stage %s answered tempfail (%s), which cannot defer a report", last.Stage, last.Reply)
		outcome = "queued as generated: " + res.Unchanged
	case o.Action == sdk.ActionReject:
		res.Drop, res.Quarantine = true, false
		outcome = fmt.Sprintf("dropped: stage %s rejected it (%s)", last.Stage, last.Reply)
	case o.Action == sdk.ActionDiscard:
		res.Drop, res.Quarantine = true, false
		outcome = fmt.Sprintf("dropped: stage %s discarded it", last.Stage)
	default:
		res.Body = msg.Bytes()
		res.Rcpts = s.reportRcpts(rcpts)
		res.Routes, res.RoutesBy = s.routes()
		outcome = "queued"
		if quarantined != "" {
			outcome = quarantined
		}
	}
	if res.Quarantine && res.Unchanged != "" {
		outcome += "; " + quarantined
	}
	res.Trace, _ = json.Marshal(Trace{ID: id, Entries: trace, Outcome: outcome})
	return res
}

// bounceStages is the pipeline of the stages that declared the bounce
// hook, sharing p's counters and observers (a stage in dry run's too).
func (p *Pipeline) bounceStages() *Pipeline {
	bp := &Pipeline{log: p.log, now: p.now, observe: p.observe, observeDry: p.observeDry}
	for _, e := range p.entries {
		if d, ok := e.Stage.(Declarer); ok && d.Declares(sdk.HookBounce) {
			bp.entries = append(bp.entries, e)
		}
	}
	return bp
}

// routes are the routes stages set on the envelope's recipients and the
// stages that set them, or nil.
func (s *Session) routes() (routes, by map[string]string) {
	for _, r := range s.txn.Envelope.Rcpts {
		if r.Route != "" {
			if routes == nil {
				routes, by = map[string]string{}, map[string]string{}
			}
			routes[r.Addr] = r.Route
			if st := s.RouteBy(r.Addr); st != "" {
				by[r.Addr] = st
			}
		}
	}
	return routes, by
}
