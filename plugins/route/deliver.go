package route

import (
	"context"
	"fmt"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/sdk"
)

// Deliver applies the rules as they are now to a queued recipient, at
// each delivery attempt, as Postfix's queue manager looks transport_maps
// up when it schedules a delivery: after a reload, a rule's new transport
// takes the mail already deferred at its next try, a rule now reject
// fails it with its reply (Postfix's error: transport), one now discard
// drops it. The address is the stored one, aliases already expanded at
// DATA: they are not expanded again (what was accepted for alice@ stays
// alice@'s), nor are recipients lists or probes asked again, which
// Postfix too checks only in smtpd. A rule with a sender matches the
// stored envelope sender, as at reception. A recipient no rule matches
// keeps its route, whoever set it. It costs a match over the rules: no
// DNS, no I/O.
//
// A stored sender that is an SRS or tagged address of ours is matched as
// the address it stands for, as the rules saw it at reception (srs.go,
// batv.go). A recipient that is one is a report Sluice made for mail it
// forwarded or tagged that the bounce hook did not readdress to the
// address it stands for (bounce.go): one queued before the hook did so,
// or as generated when the stage failed. It keeps the route it was
// queued with, the default, where a relay or another MX of the domain
// reverses it at RCPT; the domain's rule would send it to a mailbox
// server with no such user.
//
// A recipient whose route another stage set (RouteSetByOther: a
// quarantine relay a stage of the site's chose at reception) is that
// stage's: no rule applies to it, not even reject or discard, as Postfix
// keeps a message's FILTER transport over transport_maps. The core would
// ignore a new route for it anyway, but not a reject.
func (p *Plugin) Deliver(_ context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	if r.RouteSetByOther || p.srsAddress(r.Addr) || p.batvAddress(r.Addr) {
		return sdk.Continue(), nil
	}
	rl := p.ruleFor(p.ruleSender(t.Envelope.MailFrom), r.Addr)
	if rl == nil {
		return sdk.Continue(), nil
	}
	if rl.transport == "reject" {
		return rl.reply.Because(fmt.Sprintf("route: %s matches rule %d (reject)", r.Addr, rl.n)), nil
	}
	want := rl.transport
	if want == "" {
		want = "mx" // the default route, as delivery names it
	}
	if sameRoute(r.Route, want) {
		return sdk.Continue(), nil
	}
	return sdk.Continue(sdk.SetRoute{Rcpt: r.Addr, Route: want}).
		Because(fmt.Sprintf("route: %s now matches rule %d: %s, was %s", r.Addr, rl.n, want, r.Route)), nil
}

// sameRoute reports whether route (as the deliver hook gives it, "" too
// for the default) is the rule's transport want (canonical, see compile).
func sameRoute(route, want string) bool {
	rt, err := delivery.ParseRoute(route)
	return err == nil && rt.String() == want
}

var _ sdk.DeliverHook = (*Plugin)(nil)
