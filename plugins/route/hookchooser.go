package route

import "github.com/sluice-mta/sluice/sdk"

// DeclaresHook spares the core a call its configuration has nothing to
// answer with (sdk.HookChooser): without rules, the deliver hook never
// routes, rejects or drops (deliver.go), and a report has nothing to be
// routed by, readdressed from (aliases, an aliases_file, an SRS domain,
// BATV tags) or stripped of (strip_detail) at the bounce hook
// (bounce.go).
func (p *Plugin) DeclaresHook(h sdk.Hook) bool {
	switch h {
	case sdk.HookDeliver:
		return len(p.rules) > 0
	case sdk.HookBounce:
		return len(p.rules) > 0 || len(p.aliases) > 0 || p.aliasFile != nil || p.srs != nil || p.batv != nil || p.strip
	}
	return true
}

var _ sdk.HookChooser = (*Plugin)(nil)
