package main

import (
	"fmt"
	"io"

	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/sdk"
)

// printReplayMessage ends replay's text output with the message and what
// would become of it. Only a message the daemon would queue is "the
// resulting message": a refused one (reject, tempfail) or a discarded
// one would not be queued, and one refused before DATA would not even be
// received, so its text is not printed at all. The exit status stays 0
// whatever the outcome (README, "Try before you deploy").
func printReplayMessage(w io.Writer, res *daemon.ReplayResult) error {
	switch res.Outcome {
	case sdk.ActionReject.String(), sdk.ActionTempfail.String():
		if res.Hook != "" && res.Hook != sdk.HookData {
			_, err := fmt.Fprintf(w, "\n--- message refused at %s: it would not be received or queued ---\n", res.Hook)
			return err
		}
		fmt.Fprintf(w, "\n--- message refused (%s): it would not be queued; as the stages saw it ---\n", res.Outcome)
	case sdk.ActionDiscard.String():
		fmt.Fprintln(w, "\n--- message discarded (answered 250): it would not be queued; as the stages saw it ---")
	default:
		fmt.Fprintln(w, "\n--- resulting message ---")
	}
	_, err := io.WriteString(w, res.Message)
	return err
}
