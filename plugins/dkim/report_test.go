package dkim

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// reportTxn is the transaction the core hands the bounce hook: no client,
// the null sender, the report's recipient (core/pipeline Bounce).
func reportTxn(rcpt string) *sdk.Txn {
	return &sdk.Txn{Session: sdk.Session{ID: "bounce-R1", Listener: "bounce"},
		Envelope: sdk.Envelope{QueueID: "R1", Rcpts: []sdk.Recipient{{Addr: rcpt}}}}
}

// testReport is a bounce as Sluice builds it, from MAILER-DAEMON@host.
func testReport(t *testing.T, host string) []byte {
	t.Helper()
	raw, err := bounce.Build(bounce.Options{Hostname: host, ID: "R1", To: "alice@example.net",
		Original: []byte(strings.ReplaceAll(plainMessage, "\n", "\r\n")), Date: time.Unix(1752267637, 0),
		Rcpts: []bounce.Recipient{{Addr: "bob@example.net", Action: bounce.Failed, Diagnostic: "550 5.1.1 no such user"}}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSignReports: a sign or both stage signs a report at the bounce hook
// with the keys of its From domain's nearest parent that has keys, though
// the report comes from no client in sign_networks and from the null
// sender, and the signatures verify; a TLS-RPT report From tls_rpt_from
// too. sign_reports = false, a verify stage, and a From domain without
// keys leave it unsigned; the first two, and a stage with keys = [], do
// not even declare the bounce hook.
func TestSignReports(t *testing.T) {
	cfg := signSetup(t, "")
	tlsrpt := "From: <tlsrpt@example.org>\r\nTo: <rua@example.net>\r\n" +
		"Subject: Report Domain: example.net Submitter: example.org Report-ID: <1@example.org>\r\n" +
		"TLS-Report-Domain: example.net\r\nTLS-Report-Submitter: example.org\r\n\r\nreport\r\n"
	for _, tc := range []struct {
		name, cfg string
		raw       []byte
		signed    bool
		reason    string
	}{
		{"bounce", cfg, testReport(t, "mx.example.org"), true, "dkim: signed for example.org with "},
		{"tlsrpt", cfg, []byte(tlsrpt), true, "dkim: signed for example.org with "},
		{"both", strings.Replace(cfg, `"mode": "sign"`, `"mode": "both"`, 1), testReport(t, "mx.example.org"), true, "dkim: signed for example.org"},
		{"sign_reports off", strings.TrimSuffix(cfg, "}") + `, "sign_reports": false}`, testReport(t, "mx.example.org"), false, "dkim: sign_reports = false"},
		{"no key", cfg, testReport(t, "mx.elsewhere.example"), false, "dkim: no key for the report's From domain"},
		{"keys = []", `{"mode": "sign", "keys": []}`, testReport(t, "mx.example.org"), false, "dkim: no key for the report's From domain"},
		{"verify", `{"mode": "verify"}`, testReport(t, "mx.example.org"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, tc.cfg)
			// Only a stage that may sign a report declares the hook
			// (DeclaresHook): the core asks no other, each report.
			if declared, want := h.Info().Has(sdk.HookBounce), tc.signed || tc.name == "no key"; declared != want {
				t.Fatalf("bounce hook declared %v, want %v: %v", declared, want, h.Info().Hooks)
			}
			if !h.Info().Has(sdk.HookData) {
				t.Fatalf("data hook not declared: %v", h.Info().Hooks)
			}
			v := h.Bounce(reportTxn("alice@example.net"), tc.raw)
			if v.Action != sdk.ActionContinue || !strings.HasPrefix(v.Reason, tc.reason) {
				t.Fatalf("verdict %v %q, want continue %q", v.Action, v.Reason, tc.reason)
			}
			if !tc.signed {
				if len(v.Edits) != 0 {
					t.Fatalf("%d edits, want the report unsigned", len(v.Edits))
				}
				return
			}
			if len(v.Edits) != 2 {
				t.Fatalf("%d edits, want an RSA and an Ed25519 signature", len(v.Edits))
			}
			signed := sdktest.Apply(t, tc.raw, v)
			rs := results(t, verifier(t).Data(sdktest.NewTxn("", "alice@example.net"), signed))
			if len(rs) != 2 {
				t.Fatalf("results %+v", rs)
			}
			for _, r := range rs {
				if r.Result != ResultPass || r.Props["header.d"] != "example.org" {
					t.Errorf("%s: %s d=%s %s\n%s", r.Props["header.s"], r.Result, r.Props["header.d"], r.Reason, signed)
				}
			}
		})
	}
}
