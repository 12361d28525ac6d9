// Command noop is an example Sluice plugin that declares every hook but
// disconnect and answers Continue to all of them: the cost of a stage
// with no policy, used by the benchmarks.
//
// It does not implement sdk.DisconnectHook, and must not: issue 3/9's
// benchmark defines a no-op stage as one declaring the hooks the issue
// lists (connect to bounce), and disconnect, which came after, would add
// a round trip per session to every figure measured against it. A stage that keeps no state of a session has no use
// for it anyway.
package main

import (
	"context"
	"os"
	"runtime"

	"github.com/sluice-mta/sluice/sdk"
)

func main() {
	// Its hooks do no work, so one thread serves every call: with more,
	// the Go runtime wakes an idle thread for each call that arrives, to
	// find it nothing to do (in BenchmarkPipelineStages, about a fifth of
	// the stages' CPU and of their context switches). GOMAXPROCS in the
	// environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	sdk.Serve(&Noop{})
}

// Config is the stage's [stage.config].
type Config struct {
	// HeadersOnly, when true, asks for the data hook without the body.
	HeadersOnly bool `json:"headers_only"`
}

// Noop is the plugin.
type Noop struct {
	sdk.Base
	headersOnly bool
}

// Configure reads the config.
func (p *Noop) Configure(_ context.Context, cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	p.headersOnly = c.HeadersOnly
	return nil
}

// HeadersOnly reports the headers_only setting.
func (p *Noop) HeadersOnly() bool { return p.headersOnly }

// Connect answers Continue.
func (*Noop) Connect(context.Context, *sdk.Txn) (sdk.Verdict, error) { return sdk.Continue(), nil }

// Helo answers Continue.
func (*Noop) Helo(context.Context, *sdk.Txn) (sdk.Verdict, error) { return sdk.Continue(), nil }

// Auth answers Continue.
func (*Noop) Auth(context.Context, *sdk.Txn, string, string, []byte) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// Mail answers Continue.
func (*Noop) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) { return sdk.Continue(), nil }

// Rcpt answers Continue.
func (*Noop) Rcpt(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// Data answers Continue.
func (*Noop) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// Deliver answers Continue.
func (*Noop) Deliver(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// Bounce answers Continue.
func (*Noop) Bounce(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

var (
	_ sdk.ConnectHook  = (*Noop)(nil)
	_ sdk.HeloHook     = (*Noop)(nil)
	_ sdk.AuthHook     = (*Noop)(nil)
	_ sdk.MailHook     = (*Noop)(nil)
	_ sdk.RcptHook     = (*Noop)(nil)
	_ sdk.DataHook     = (*Noop)(nil)
	_ sdk.DeliverHook  = (*Noop)(nil)
	_ sdk.BounceHook   = (*Noop)(nil)
	_ sdk.BodyOptional = (*Noop)(nil)
)
