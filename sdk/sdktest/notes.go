package sdktest

import (
	"fmt"

	"github.com/sluice-mta/sluice/sdk"
)

// ApplyNotes carries the notes of a verdict at hook (its sdk.SetNote
// edits) into t, as the core does for the hooks that follow: at connect,
// helo and auth into t.Session.Notes, at mail, rcpt and data into
// t.Notes; an empty value deletes. A script calls it between steps, so
// that the next hook it calls, of this plugin or of another stage's under
// test, sees them. It returns why the core would refuse a note (the
// others are applied, as the core applies them); at deliver, bounce and
// disconnect, where the core ignores notes, it changes nothing.
func ApplyNotes(t *sdk.Txn, hook sdk.Hook, v sdk.Verdict) error {
	var scope *map[string]string
	switch hook {
	case sdk.HookConnect, sdk.HookHelo, sdk.HookAuth:
		scope = &t.Session.Notes
	case sdk.HookMail, sdk.HookRcpt, sdk.HookData:
		scope = &t.Notes
	default:
		return nil
	}
	var first error
	for _, e := range v.Edits {
		n, ok := e.(sdk.SetNote)
		if !ok {
			continue
		}
		m, err := n.Apply(*scope)
		if err != nil && first == nil {
			first = fmt.Errorf("note %q refused: %w", n.Key, err)
		}
		*scope = m
	}
	return first
}

// Notes returns the notes a verdict sets (its sdk.SetNote edits), by
// key, for a test to assert; a deleting note's value is "".
func Notes(v sdk.Verdict) map[string]string {
	var out map[string]string
	for _, e := range v.Edits {
		if n, ok := e.(sdk.SetNote); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[n.Key] = n.Value
		}
	}
	return out
}
