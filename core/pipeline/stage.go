// Package pipeline runs a transaction through the configured stages in
// order: plugins and milters alike, each with its timeout and on_error
// policy, applying their verdicts and edits and recording a trace.
package pipeline

import (
	"context"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// Stage is one configured step, a plugin or a milter.
type Stage interface {
	// Kind is "plugin" or "milter".
	Kind() string
	// Open starts the stage's part of one SMTP session (a milter connects
	// here; a plugin returns a view of its shared process).
	Open(ctx context.Context, s *sdk.Session) (Conn, error)
	// Health reports the stage's state ("running", "restarting", "down")
	// and how many times it was restarted.
	Health() (state string, restarts int)
}

// Conn is a stage's view of one SMTP session.
type Conn interface {
	// Wants reports whether the stage declared the hook.
	Wants(h sdk.Hook) bool
	// NeedsBody reports whether the data hook needs the body.
	NeedsBody() bool
	// Hook runs connect, helo, auth, mail, rcpt, deliver or disconnect.
	Hook(ctx context.Context, h sdk.Hook, t *sdk.Txn, rcpt *sdk.Recipient) (sdk.Verdict, error)
	// Data runs the data or bounce hook.
	Data(ctx context.Context, h sdk.Hook, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error)
	// Reset ends a transaction (RSET, or after the data hook).
	Reset(ctx context.Context)
	// Close ends the session.
	Close() error
}

// StageConfig is a Stage with its per-stage settings.
type StageConfig struct {
	Name    string
	Stage   Stage
	Timeout time.Duration
	// DataTimeout bounds the data hook instead of Timeout (the stage's
	// data_timeout); 0: Timeout.
	DataTimeout time.Duration
	OnError     config.OnError
	// Listeners names the listeners whose SMTP sessions the stage serves
	// (the stage's listeners); nil: every session's. See Pipeline.Open.
	Listeners []string
	// SkipNetworks are the clients whose sessions the stage does not
	// serve (its skip_networks, skipnet.go); nil: none.
	SkipNetworks []netip.Prefix
	// DryRun: the stage is asked but its verdicts are recorded, never
	// applied (dryrun.go).
	DryRun bool
}
