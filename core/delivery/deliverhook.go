package delivery

import (
	"context"
	"slices"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/sdk"
)

// DeliverHook asks the pipeline's deliver hook about recipients of m as
// they are about to be sent, after routing, and returns one verdict per
// recipient in order. The zero verdict sends it.
type DeliverHook func(ctx context.Context, m *envelope.Message, rcpts []DeliverRcpt) []DeliverVerdict

// DeliverRcpt is a recipient about to be sent and its route (as
// Route.String gives it): the recipient's own, "mx" for the default route
// whether MX or the relay takes it, so that a stage can compare it with
// the route it would set (the route plugin's rules).
type DeliverRcpt struct {
	Rcpt  *envelope.Recipient
	Route string
}

// DeliverVerdict is the deliver hook's decision for one recipient.
type DeliverVerdict struct {
	// Reply refuses the recipient: a 5xx fails it (and bounces it), a 4xx
	// defers it to the next attempt.
	Reply *reply.Reply
	// Drop discards the recipient: counted as delivered, nothing sent.
	Drop bool
	// Quarantine sets the whole message aside (state quarantined, as at
	// the data hook) before anything of it is sent.
	Quarantine bool
	// Rerouted says that a stage set the recipient's route: Route is the
	// new one. The attempt sends the recipient by it, and it is stored
	// with the recipient's outcome (see reroute).
	// RoutedBy names the stage that set it, for the log.
	Rerouted bool
	Route    string
	RoutedBy string
	// Trace is what each stage asked did, for the message's trace.
	Trace []pipeline.TraceEntry
}

// askDeliver runs the deliver hook over every recipient about to be sent,
// all in one call, and keeps in dests only those it lets through, each in
// the destination of the route a stage set for it, if one did; the
// others' outcomes go into results, and the routes set into routes (by
// address), for the attempt to store with the outcomes. quarantine
// reports that a stage set the message aside: then nothing is sent.
// asked reports that some stage was asked (the call may have taken up to
// the stages' timeouts).
//
// stuck are the recipients whose stored route does not parse (deferred
// in results by group): they are asked too, with their route as stored,
// so that a stage's route (a corrected rule) can send them on; one no
// stage reroutes stays deferred.
func (a *Agent) askDeliver(ctx context.Context, m *envelope.Message, dests []*destination, stuck []*envelope.Recipient, results map[string]outcome) (kept []*destination, routes map[string]reroute, quarantine, asked bool) {
	var rcpts []DeliverRcpt
	for _, d := range dests {
		for _, r := range d.rcpts {
			rcpts = append(rcpts, DeliverRcpt{Rcpt: r, Route: ownRoute(r)})
		}
	}
	for _, r := range stuck {
		rcpts = append(rcpts, DeliverRcpt{Rcpt: r, Route: r.Route})
	}
	vs := a.deliverHook(ctx, m, rcpts)
	checkRoutes(rcpts, vs)
	a.traceDeliverHook(m, rcpts, vs)
	for i, v := range vs {
		if v.Quarantine && m.Released {
			// An administrator released it: quarantined again, it could
			// never get out. The recipient goes on as if continued.
			a.log.Info("delivery: deliver hook's quarantine not applied: released by an administrator", "id", m.ID, "rcpt", rcpts[i].Rcpt.Addr)
		} else if v.Quarantine {
			a.log.Info("delivery: quarantined by the deliver hook", "id", m.ID, "rcpt", rcpts[i].Rcpt.Addr, "stage", decidedBy(v))
			return nil, nil, true, true
		}
		asked = asked || len(v.Trace) > 0
	}
	var moved []*envelope.Recipient
	// decide applies v to r and reports whether r is sent as it is.
	decide := func(r *envelope.Recipient, v DeliverVerdict, from string) bool {
		// Each decision is logged as a destination's attempt is, so
		// that grep ID tells what became of every recipient: one the
		// hook failed or deferred is sent nowhere, and has no
		// "delivery attempt" line.
		switch {
		case v.Drop:
			a.log.Info("delivery: discarded by the deliver hook", "id", m.ID, "rcpt", r.Addr, "stage", decidedBy(v))
			o := delivered(hookDiscarded.String())
			o.discarded = true
			results[r.Addr] = o
		case v.Reply != nil && v.Reply.Code >= 500:
			// A verdict's reason is for the log and the trace (sdk
			// Verdict.Reason): the stored reply, which a report
			// quotes to the sender, is the reply alone.
			o := permanent(&reply.Reply{Code: v.Reply.Code, Enhanced: v.Reply.Enhanced, Text: v.Reply.Text})
			if a.softBounceOn {
				a.log.Info("delivery: deferred by soft_bounce, failed by the deliver hook", "id", m.ID, "rcpt", r.Addr, "stage", decidedBy(v), "reply", o.reply, "soft_bounce", true)
			} else {
				a.log.Info("delivery: failed by the deliver hook", "id", m.ID, "rcpt", r.Addr, "stage", decidedBy(v), "reply", o.reply)
			}
			results[r.Addr] = o
		case v.Reply != nil:
			o := temporary(v.Reply.String())
			a.log.Info("delivery: deferred by the deliver hook", "id", m.ID, "rcpt", r.Addr, "stage", decidedBy(v), "reply", o.reply)
			results[r.Addr] = o
		case v.Rerouted:
			a.log.Info("delivery: route changed by the deliver hook", "id", m.ID, "rcpt", r.Addr, "stage", v.RoutedBy, "from", from, "to", v.Route)
			if routes == nil {
				routes = map[string]reroute{}
			}
			routes[r.Addr] = reroute{route: v.Route, by: v.RoutedBy}
			delete(results, r.Addr) // a stuck one's deferral
			nr := *r
			nr.Route, nr.RouteBy = v.Route, v.RoutedBy
			moved = append(moved, &nr)
		default:
			return true
		}
		return false
	}
	i := 0
	for _, d := range dests {
		var pass []*envelope.Recipient
		for _, r := range d.rcpts {
			if decide(r, vs[i], rcpts[i].Route) {
				pass = append(pass, r)
			}
			i++
		}
		if len(pass) > 0 {
			d.rcpts = pass
			kept = append(kept, d)
		}
	}
	for _, r := range stuck {
		// Let through unrerouted, it stays deferred on its route.
		decide(r, vs[i], rcpts[i].Route)
		i++
	}
	return a.regroup(kept, moved, results), routes, false, asked
}

// ownRoute is r's route as Route.String gives it; group parsed it.
func ownRoute(r *envelope.Recipient) string {
	rt, _ := ParseRoute(r.Route)
	return rt.String()
}

// checkRoutes makes each route a stage set canonical, and a verdict that
// set a recipient's route to the one it had already a plain one. A route
// that does not parse defers the recipient, as the same route set at
// reception would (group), and keeps the route it had: sending it by its
// old route would go where the stage said not to, and storing the bad
// one would keep the hook from ever being asked about it again.
func checkRoutes(rcpts []DeliverRcpt, vs []DeliverVerdict) {
	for i := range vs {
		v := &vs[i]
		if !v.Rerouted {
			continue
		}
		if v.Reply != nil || v.Drop || v.Quarantine {
			// Not sent: no route to store, and the next attempt asks
			// again.
			v.Rerouted, v.Route = false, ""
			continue
		}
		rt, err := ParseRoute(v.Route)
		if err != nil {
			v.Rerouted, v.Route = false, ""
			v.Reply = &reply.Reply{Code: badRoute.Code, Enhanced: badRoute.Enhanced, Text: badRoute.Text + " (set at deliver: " + err.Error() + ")"}
			continue
		}
		v.Route = rt.String()
		if v.Route == rcpts[i].Route {
			v.Rerouted, v.Route = false, ""
		}
	}
}

// regroup puts the recipients moved to another route into the
// destinations of their new routes, those of kept or new ones after them.
func (a *Agent) regroup(kept []*destination, moved []*envelope.Recipient, results map[string]outcome) []*destination {
	if len(moved) == 0 {
		return kept
	}
	dests, failed := a.group(moved)
	for addr, o := range failed {
		results[addr] = o
	}
	for _, nd := range dests {
		i := slices.IndexFunc(kept, func(d *destination) bool { return d.key == nd.key })
		if i < 0 {
			kept = append(kept, nd)
			continue
		}
		kept[i].rcpts = append(kept[i].rcpts, nd.rcpts...)
	}
	return kept
}

// hookDiscarded is the reply recorded for a recipient the deliver hook
// discarded (not "Discarded by route": no route said so).
var hookDiscarded = reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Discarded by the deliver hook"}

// decidedBy names the stage whose verdict v is: the last one asked.
func decidedBy(v DeliverVerdict) string {
	if len(v.Trace) == 0 {
		return ""
	}
	return v.Trace[len(v.Trace)-1].Stage
}

// traceDeliverHook appends to m's trace what the deliver hook decided for
// recipients it did not simply let through, with the stages' entries for
// them: one event per attempt, none when every stage continued.
func (a *Agent) traceDeliverHook(m *envelope.Message, rcpts []DeliverRcpt, vs []DeliverVerdict) {
	ev := pipeline.DeliveryEvent{Attempt: m.Attempts + 1, Destination: "deliver hook"}
	for i, v := range vs {
		result := "sent"
		switch {
		case v.Quarantine && m.Released:
			result = "released"
		case v.Quarantine:
			result = "quarantined"
		case v.Drop:
			result = "discarded"
		case v.Reply != nil && v.Reply.Code >= 500:
			result, ev.Reply = "failed", v.Reply.String()
		case v.Reply != nil:
			result, ev.Reply = "deferred", v.Reply.String()
		case v.Rerouted:
			result = "rerouted"
		default:
			// A stage's edits other than a route are ignored at
			// deliver (pipeline.Deliver): traced, so that a stage that
			// made them can be seen not to have been followed.
			passed := true
			for _, te := range v.Trace {
				passed = passed && te.Action == sdk.ActionContinue.String() && len(te.Edits) == 0
			}
			if passed {
				continue
			}
		}
		if ev.Result != "" && ev.Result != result {
			result = "mixed"
		}
		ev.Result = result
		ev.Recipients = append(ev.Recipients, rcpts[i].Rcpt.Addr)
		ev.Stages = append(ev.Stages, v.Trace...)
	}
	if len(ev.Recipients) > 0 {
		ev.Time = a.clock()
		a.traceEvent(m.ID, ev)
	}
}
