package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// Bounce routes a report Sluice generated as the data hook routes a
// message: a recipient matching a rule with a transport gets it, so that
// a local sender's bounce goes to its mailbox server (Postfix's bounce
// daemon hands reports to cleanup, which applies transport_maps) instead
// of by MX, which for our own domain is this host: a loop, and the report
// dropped. A report is from the null sender: a rule with sender = "<>"
// matches it, one with another sender does not. Plugin mail (the core's
// Mailer) is from the sender the plugin gave: the rules, and the
// catch-all's look at their recipients lists, match that sender as they
// would at DATA, so that mail from notices@brand-a.example takes
// brand-a's rule, not the null sender's. They match it as it is queued,
// as the deliver hook will at each attempt (deliver.go), so that the two
// agree: the core ignores a sender edit at this hook, so sender_canonical,
// masquerade_domains, SRS and BATV leave it as the plugin gave it. Nor
// does a report or plugin mail get a BCC copy (bcc.go): the hook may add
// no recipient.
//
// Before routing, the recipient is readdressed as Postfix's cleanup
// would (recipient_canonical_maps with postsrsd's reverse table, then
// virtual_alias_maps), the core letting a bounce stage replace it one
// for one: an SRS address of ours (the sender of mail Sluice forwarded,
// srs.go) becomes the address it stands for, checked as the bounce
// coming back at RCPT would be, and the report's To field with it, as
// postsrsd's recipient_canonical_classes header_recipient has it; then
// an alias or catch-all with one target becomes that target. An SRS
// address that does not check out (forged, expired) drops the report, as
// Postfix's bounce to it would bounce in turn, to the null sender: no
// one. A tagged sender of the site's own mail (batv.go) becomes the
// address it stands for, and the To field with it, its hash checked, not
// its age; a tag whose hash does not match (or a garbled one) drops the
// report as a bad SRS address does: it names no one we could readdress
// it to. An alias with several targets is left as it is (a report goes
// to one recipient), routed by its own rule.
func (p *Plugin) Bounce(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	from := p.ruleSender(t.Envelope.MailFrom)
	var edits []sdk.Edit
	var why []string
	for _, r := range t.Envelope.Rcpts {
		to := r.Addr
		orig, isSRS, err := p.srsReverse(to, true)
		if isSRS {
			if err != nil {
				return p.srsRefusal(to, err), nil
			}
			to = orig
			why = append(why, fmt.Sprintf("route: SRS: report to <%s> goes to <%s>%s", r.Addr, orig, p.srs.file.trouble()))
		}
		// The tagged sender of the site's own mail: its report goes to the
		// user, whatever the tag's age (the queue may have tried for
		// longer than max_age_days).
		// A tag that does not check out (a client's forged or garbled
		// MAIL FROM) drops the report as a bad SRS address does: by MX it
		// would come back to this host and be refused at RCPT.
		tagged := false
		if orig, ok, err := p.batvStrip(to, false); ok {
			if err != nil {
				return p.batvRefusal(to, err), nil
			}
			to, tagged = orig, true
			why = append(why, fmt.Sprintf("route: BATV: report to <%s> goes to <%s>", r.Addr, orig))
		}
		switch targets, err := p.expand(from, to, 0); {
		case err != nil:
			why = append(why, fmt.Sprintf("route: report to <%s>: %v", to, err))
		case len(targets) > 1:
			why = append(why, fmt.Sprintf("route: report to <%s>: its %d targets left out (a report goes to one recipient)", to, len(targets)))
		case len(targets) == 1 && targets[0] != to:
			why = append(why, fmt.Sprintf("route: report to <%s> → <%s>", to, targets[0]))
			to = targets[0]
		}
		if to != r.Addr {
			edits = append(edits, sdk.RemoveRecipient{Addr: r.Addr}, sdk.AddRecipient{Addr: to})
			if (isSRS || tagged) && m != nil && strings.EqualFold(strings.TrimSpace(m.Get("To")), "<"+r.Addr+">") {
				edits = append(edits, sdk.ChangeHeader{Name: "To", Occurrence: 1, Value: "<" + to + ">"})
			}
		}
		edits = append(edits, p.routeEdit(from, to)...)
	}
	v := sdk.Continue(edits...)
	if len(why) > 0 {
		v = v.Because(strings.Join(why, "; "))
	}
	return v, nil
}

var _ sdk.BounceHook = (*Plugin)(nil)
