package dkim

import (
	"context"
	"fmt"

	"github.com/sluice-mta/sluice/sdk"
)

// Bounce signs a report Sluice generated (a bounce, a DSN, a delay
// warning, a mailed TLS-RPT report) as Data signs a message: with the
// keys of its From domain or of that domain's nearest parent that has
// keys, over the same header fields. Its From is MAILER-DAEMON@hostname,
// or tls_rpt_from for a TLS-RPT report, which a receiver ignores unless a
// DKIM signature of the reporting domain covers it (RFC 8460 §5.3); and a
// receiver applying the host domain's DMARC p=reject refuses a bounce
// without an aligned pass, which for the null sender SPF gives only
// through a record of the HELO name (RFC 7208 §2.4). A report comes from
// no client, so sign_networks
// does not apply, and from the null sender, so no envelope domain's key
// does either. sign_reports = false leaves reports unsigned, as Postfix
// leaves them without internal_mail_filter_classes = bounce.
func (p *Plugin) Bounce(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	switch {
	case !p.configured:
		return sdk.Verdict{}, fmt.Errorf("dkim: not configured")
	case p.mode == ModeVerify:
		// Not declared (DeclaresHook): a report is Sluice's own, with
		// nothing to verify.
		return sdk.Continue(), nil
	case !p.signReports:
		return sdk.Continue().Because("dkim: sign_reports = false"), nil
	}
	return p.signBy(m, "the report's From domain", fromDomain(m))
}

// DeclaresHook declares the bounce hook only for a stage that may sign
// a report: not a verify stage, nor one with sign_reports = false or
// keys = [] (the default pipeline's sign stage until keys are added),
// which would be asked, and answer continue, for every report.
func (p *Plugin) DeclaresHook(h sdk.Hook) bool {
	return h != sdk.HookBounce || p.mode != ModeVerify && p.signReports && len(p.keys) > 0
}

var (
	_ sdk.BounceHook  = (*Plugin)(nil)
	_ sdk.HookChooser = (*Plugin)(nil)
)
