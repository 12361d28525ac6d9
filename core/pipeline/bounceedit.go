package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// A stage at the bounce hook may replace a report's recipient: a
// RemoveRecipient of it and an AddRecipient of the new address, in one
// verdict. Postfix's bounce daemon posts its reports through cleanup,
// where recipient_canonical_maps (postsrsd's reverse table) and
// virtual_alias_maps rewrite the recipient; the route plugin does that
// here, so that a report to an SRS address goes to the sender it stands
// for instead of looping back to this host. The sender stays the null
// reverse-path (RFC 5321 §4.5.5), and the report stays a report to as
// many recipients as it was made for: a verdict whose recipient edits
// would leave it more or fewer, or one twice, has them all refused.

// errNotOneForOne is the refusal of recipient edits that do not replace.
const errNotOneForOne = "a report's recipient may only be replaced, one for one"

// reportRcptsError says why the recipient edits among edits, a bounce
// hook verdict's, do not replace the report's recipients one for one, or
// returns nil. An added address that is no mailbox is refused by itself
// (envelopeEditError) and counts as not added.
func (s *Session) reportRcptsError(edits []sdk.Edit) error {
	var rcpts []string
	for _, r := range s.txn.Envelope.Rcpts {
		rcpts = append(rcpts, r.Addr)
	}
	n := len(rcpts)
	for _, ed := range edits {
		switch ed := ed.(type) {
		case sdk.RemoveRecipient:
			rcpts = slices.DeleteFunc(rcpts, func(a string) bool { return strings.EqualFold(a, ed.Addr) })
		case sdk.AddRecipient:
			if envelope.MailboxError(ed.Addr) != nil {
				continue
			}
			if slices.ContainsFunc(rcpts, func(a string) bool { return strings.EqualFold(a, ed.Addr) }) {
				return fmt.Errorf("%s: <%s> would get it twice", errNotOneForOne, ed.Addr)
			}
			rcpts = append(rcpts, ed.Addr)
		}
	}
	if len(rcpts) != n {
		return fmt.Errorf("%s: the edits would leave it %d recipients, not %d", errNotOneForOne, len(rcpts), n)
	}
	return nil
}

// isRcptEdit reports whether e adds or removes a recipient.
func isRcptEdit(e sdk.Edit) bool {
	switch e.(type) {
	case sdk.AddRecipient, sdk.RemoveRecipient:
		return true
	}
	return false
}

// bounceEditError is envelopeEditError at the bounce hook, where
// notOneForOne (reportRcptsError's, for the whole verdict) refuses a
// recipient edit too. A sender edit is ignored, not checked.
func bounceEditError(e sdk.Edit, notOneForOne error) error {
	if _, ok := e.(sdk.SetSender); ok {
		return nil
	}
	if err := envelopeEditError(e); err != nil || !isRcptEdit(e) {
		return err
	}
	return notOneForOne
}

// reportRecipient is the AddRecipient a report gets: without DSN
// parameters. A report is from the null sender, so nothing is ever
// reported on it to its sender (RFC 3461 §6.2; a failure goes to
// double_bounce_to), NOTIFY=NEVER's effect whatever NOTIFY says; and
// ORCPT= names the address a client gave (§4.2), which a report has none
// of, nor has plugin mail, whose sender gets a bounce as the default
// NOTIFY has it. The trace says when the stage gave some.
func reportRecipient(ed sdk.AddRecipient) (sdk.AddRecipient, string) {
	if len(ed.Params) == 0 {
		return ed, ""
	}
	return sdk.AddRecipient{Addr: ed.Addr}, " (its parameters ignored at bounce)"
}

// reportRcpts returns the report's recipients as the stages left them,
// or nil when they are generated's. Compared byte for byte: a recipient
// replaced by its own address in other case is queued as the stage
// spelled it, the spelling routes() keys its route by.
func (s *Session) reportRcpts(generated []string) []string {
	var now []string
	for _, r := range s.txn.Envelope.Rcpts {
		now = append(now, r.Addr)
	}
	if slices.Equal(now, generated) {
		return nil
	}
	return now
}
