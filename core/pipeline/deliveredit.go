package pipeline

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// deliverEdits applies a deliver verdict's edits to the call's recipient
// rcpt. Only a route for that recipient applies: the queue's transport
// lookup happens at each attempt, as Postfix's queue manager consults
// transport_maps when it schedules a delivery, so a route changed since
// the message was queued takes effect at its next try. The message itself
// is queued as it is (and the envelope a deliver call sees is shared with
// the other recipients' calls, and must not change under them), so every
// other edit is listed as ignored.
//
// A route another stage set (at reception, or earlier at deliver) is not
// changed: it is that stage's decision about this message (a quarantine
// relay, say), which a route rule matching the address must not undo at
// the next attempt, as Postfix keeps a message's FILTER transport over
// transport_maps. A stage may change its own route, or one nobody set.
func (s *Session) deliverEdits(stage string, edits []sdk.Edit, rcpt *sdk.Recipient) []string {
	var done []string
	for _, ed := range edits {
		sr, ok := ed.(sdk.SetRoute)
		if !ok || rcpt == nil || (sr.Rcpt != "" && !strings.EqualFold(sr.Rcpt, rcpt.Addr)) {
			done = append(done, sdk.DescribeEdit(ed)+" (ignored at deliver)")
			continue
		}
		sr.Rcpt = rcpt.Addr
		if by := s.RouteBy(rcpt.Addr); by != "" && by != stage {
			done = append(done, sdk.DescribeEdit(sr)+" (ignored at deliver: route set by stage "+by+")")
			continue
		}
		if err := envelopeEditError(sr); err != nil {
			s.p.log.Warn("stage edit refused", "stage", stage, "hook", string(sdk.HookDeliver), "edit", fmt.Sprintf("%q", sdk.DescribeEdit(sr)), "err", err, "session", s.txn.Session.ID)
			done = append(done, sdk.DescribeEdit(sr)+" (refused: "+err.Error()+")")
			continue
		}
		// The trace says what the route was, so that a route changed
		// at deliver can be told from the one set at reception.
		done = append(done, fmt.Sprintf("%s at deliver (was %s)", sdk.DescribeEdit(sr), rcpt.Route))
		rcpt.Route = sr.Route
		s.noteRouteBy(sdk.HookDeliver, rcpt.Addr, stage)
	}
	return done
}
