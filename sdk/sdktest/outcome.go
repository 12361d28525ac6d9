package sdktest

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// Outcome calls the outcome hook with o, about the message t describes
// (t.Envelope.QueueID, MailFrom, the notes as queued), as Sluice does
// after an attempt's outcome is committed, and returns the plugin's
// error, which Sluice only logs. Like Deliver and Bounce it belongs to no
// SMTP session.
func (h *Harness) Outcome(t *sdk.Txn, o sdk.Outcome) error {
	h.t.Helper()
	h.noteUndeclared(sdk.HookOutcome)
	return h.client.Outcome(context.Background(), t, o)
}
