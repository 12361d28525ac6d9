package plugin

import (
	"context"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// Auth runs the auth hook with the client's credentials.
func (c conn) Auth(ctx context.Context, t *sdk.Txn, a *sdk.AuthArgs) (sdk.Verdict, error) {
	rpc, _ := c.p.current()
	if rpc == nil {
		return sdk.Verdict{}, pipeline.ErrStageDown
	}
	v, err := rpc.Hook(ctx, sdk.HookAuth, t, nil, a)
	if err != nil {
		c.p.failed()
	}
	return v, err
}

// Declares reports whether the plugin declared hook h at Init.
func (p *Process) Declares(h sdk.Hook) bool {
	_, info := p.current()
	return info.Has(h)
}

var (
	_ pipeline.AuthConn = conn{}
	_ pipeline.Declarer = (*Process)(nil)
)
