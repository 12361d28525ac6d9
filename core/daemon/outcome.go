package daemon

import (
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// outcomeHook is delivery's hook to the pipeline's outcome stages: the
// current generation's, whose stages queue the notification and call
// the plugins in the background (core/pipeline/outcome.go).
func (d *Daemon) outcomeHook() delivery.OutcomeHook {
	return delivery.OutcomeHook{
		Wants: func() bool { return d.pipe().DeclaresOutcome() },
		Notify: func(m *envelope.Message, o sdk.Outcome) {
			d.pipe().Outcome(pipeline.OutcomeCall{
				Env:     sdk.Envelope{MailFrom: m.From, QueueID: m.ID},
				Notes:   pipeline.Notes{Session: m.SessionNotes, Txn: m.TxnNotes},
				Outcome: o,
			})
		},
	}
}
