package dmarc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/plugins/dkim"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestTrustedForwarderSealedByDKIM: the whole way, with the dkim plugin
// on both sides. A list's sign stage seals mail from example.org that
// passed DMARC there, the list changes the Subject (and so breaks the
// author's DKIM, were there one); here the verify stage finds arc=pass,
// and the dmarc stage, trusting the list, lets the p=reject failure
// through. Trusting nobody, it refuses it.
func TestTrustedForwarderSealedByDKIM(t *testing.T) {
	d := dmarcDNS(t)
	t.Setenv(dkim.EnvHostname, "mx.lists.example.net")
	path, record, err := dkim.Keygen("lists.example.net", "arc", dkim.KeyRSA, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	list := sdktest.New(t, &dkim.Plugin{}, fmt.Sprintf(`{"mode": "sign", "keys": [], "arc": {"domain": "lists.example.net", "selector": "arc", "key_file": %q}}`, path))
	in := sdktest.NewTxn("a@example.org", "list@lists.example.net")
	in.Session.ClientIP = "192.0.2.7"
	in.AuthResults = []sdk.AuthResult{spf("a@example.org"),
		{Method: "dmarc", Result: "pass", Props: map[string]string{"header.from": "example.org"}, Stage: "dmarc"}}
	msg := []byte(strings.Replace(string(msgFrom("a@example.org")), "Subject: hi", "Subject: [list] hi", 1))
	v := list.Data(in, msg)
	if v.Action != sdk.ActionContinue {
		t.Fatalf("list's seal: %v (%s)", v.Action, v.Reason)
	}
	sealed := sdktest.Apply(t, msg, v)

	// Here: the list's MX is the client, its MAIL FROM its own.
	verify := sdktest.New(t, &dkim.Plugin{}, `{"mode": "verify"}`)
	txn := remoteTxn()
	txn.Session.ClientIP = "198.51.100.9"
	txn.AuthResults = []sdk.AuthResult{spf("list-bounces@lists.example.net")}
	vv := verify.Data(txn, sealed)
	for _, r := range vv.AuthResults {
		if r.Method == "arc" && r.Result != "pass" {
			t.Fatalf("arc=%s (%s), want pass", r.Result, r.Reason)
		}
	}
	txn.AuthResults = append(txn.AuthResults, vv.AuthResults...)
	for cfg, want := range map[string]sdk.Action{`{"arc_trusted_sealers": ["lists.example.net"]}`: sdk.ActionContinue, `{}`: sdk.ActionReject} {
		got := sdktest.New(t, &Plugin{}, cfg).Data(txn, sealed)
		if got.Action != want || len(got.AuthResults) != 1 || got.AuthResults[0].Result != ResultFail {
			t.Errorf("%s: action %v results %+v (%s), want %v with dmarc=fail", cfg, got.Action, got.AuthResults, got.Reason, want)
		}
		if want == sdk.ActionContinue && !strings.Contains(got.AuthResults[0].Reason, "trusted_forwarder: arc=pass, sealer lists.example.net i=1 saw dmarc=pass") {
			t.Errorf("reason %q, want the override", got.AuthResults[0].Reason)
		}
	}
}
