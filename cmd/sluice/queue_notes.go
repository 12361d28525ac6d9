package main

import (
	"fmt"
	"io"
	"slices"
)

// printNotes prints the notes stages left on a message (sdk.SetNote),
// the session's then the transaction's, each sorted by key, and nothing
// when there are none. A value is a plugin's text, and a key written
// to the queue by a core of another version is not sure to be checked:
// both go through printable.
func printNotes(w io.Writer, session, txn map[string]string) {
	if len(session) == 0 && len(txn) == 0 {
		return
	}
	fmt.Fprintln(w, "notes:")
	for _, scope := range []struct {
		name  string
		notes map[string]string
	}{{"session", session}, {"txn", txn}} {
		keys := make([]string, 0, len(scope.notes))
		for k := range scope.notes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-8s %s=%s\n", scope.name, printable(k), printable(scope.notes[k]))
		}
	}
}
