package route

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// Bounce routes a report Sluice generated as the data hook routes a
// message: a recipient matching a rule with a transport gets it, so that
// a local sender's bounce goes to its mailbox server (Postfix's bounce
// daemon hands reports to cleanup, which applies transport_maps) instead
// of by MX, which for our own domain is this host: a loop, and the report
// dropped. Only routes: a report's recipients are Sluice's, so an alias is
// not rewritten here, and its own rule decides. A report is from the null
// sender: a rule with sender = "<>" matches it, one with another sender
// does not. Nor does a report get a BCC copy (bcc.go).
//
// A report to an SRS address of ours (for mail Sluice forwarded, srs.go)
// is not routed by the rule of the SRS domain, whose mailbox server has
// no such user: a report's recipient cannot be rewritten here, so it
// keeps the default route, where a relay, or another MX of the domain
// running this stage, reverses the address at RCPT.
func (p *Plugin) Bounce(_ context.Context, t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	var edits []sdk.Edit
	for _, r := range t.Envelope.Rcpts {
		if !p.srsAddress(r.Addr) {
			edits = append(edits, p.routeEdit("", r.Addr)...)
		}
	}
	return sdk.Continue(edits...), nil
}

var _ sdk.BounceHook = (*Plugin)(nil)
