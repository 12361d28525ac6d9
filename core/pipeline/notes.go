package pipeline

import (
	"fmt"

	"github.com/sluice-mta/sluice/sdk"
)

// Notes are what stages left for later ones with sdk.SetNote (Haraka's
// connection.notes and transaction.notes): the session's, set at
// connect, helo and auth, and the transaction's, set at mail, rcpt and
// data. They are stored with the queued message, as they stood then, for
// the deliver and bounce hooks. Maps are never written to once made
// (sdk.SetNote.Apply makes a new one): a snapshot sent to a stage, or a
// call of a batch, may share them.
type Notes struct {
	Session, Txn map[string]string
}

// Notes returns the session's and the open transaction's notes.
func (s *Session) Notes() Notes { return Notes{Session: s.txn.Session.Notes, Txn: s.txn.Notes} }

// applyNote applies a stage's note at hook to the scope the hook sets,
// and describes it for the trace. At deliver and bounce there is no later
// hook of the message's session or transaction to read it: ignored.
func (s *Session) applyNote(stage string, hook sdk.Hook, n sdk.SetNote) string {
	d := sdk.DescribeEdit(n)
	var scope *map[string]string
	switch hook {
	case sdk.HookConnect, sdk.HookHelo, sdk.HookAuth:
		scope = &s.txn.Session.Notes
	case sdk.HookMail, sdk.HookRcpt, sdk.HookData:
		scope = &s.txn.Notes
	default:
		return d + " (ignored at " + string(hook) + ")"
	}
	m, err := n.Apply(*scope)
	if err != nil {
		// Refused as a bad header edit is: logged and traced, and the
		// verdict's other edits go on.
		if len(n.Value) > sdk.MaxNoteValue {
			d = fmt.Sprintf("note %s=(%d bytes)", n.Key, len(n.Value))
		}
		s.p.log.Warn("stage edit refused", "stage", stage, "hook", string(hook), "edit", fmt.Sprintf("%q", d), "err", err, "session", s.txn.Session.ID)
		return d + " (refused: " + err.Error() + ")"
	}
	*scope = m
	return d
}
