package dmarc

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const trustedCfg = `{"arc_trusted_sealers": ["LISTS.Example.NET.", "bücher.test"]}`

// arcSet writes the three fields of one ARC Set as a sealer at d would,
// newest first as they stand in a header; the signatures are dummies, as
// this stage relies on the dkim stage's arc result for them.
func arcSet(i, d, cv, aar string) string {
	return "ARC-Seal: i=" + i + "; a=rsa-sha256; cv=" + cv + "; d=" + d + "; s=arc; t=1700000000;\n\tb=AAAA\n" +
		"ARC-Message-Signature: i=" + i + "; a=rsa-sha256; c=relaxed/relaxed; d=" + d + "; s=arc;\n\th=from:to:subject; bh=AAAA; b=AAAA\n" +
		"ARC-Authentication-Results: i=" + i + "; " + aar + "\n"
}

// listAAR is what a list's MX found for mail from example.org that it
// then changed (a subject tag, a footer) and passed on.
const listAAR = "mx.lists.example.net;\n\tdkim=pass header.d=example.org header.s=s1;\n\tspf=pass smtp.mailfrom=a@example.org;\n\tdmarc=pass (p=reject dis=none) header.from=example.org"

func arcRes(result, oldest string) sdk.AuthResult {
	props := map[string]string{"smtp.remote-ip": "192.0.2.25"}
	if oldest != "" {
		props["header.oldest-pass"] = oldest
	}
	return sdk.AuthResult{Method: "arc", Result: result, Props: props, Stage: "dkim"}
}

// TestTrustedForwarder: a message failing a p=reject or p=quarantine
// goes on when its ARC chain validated and a trusted sealer recorded
// dmarc=pass for the From domain (RFC 7489 §6.7, RFC 8617 §7.2.1); its
// Authentication-Results stay dmarc=fail, naming the override. Anything
// less — another sealer, a chain that failed, a sealer that saw a
// failure, a message changed after it sealed — is refused as before.
func TestTrustedForwarder(t *testing.T) {
	dmarcDNS(t)
	list := arcSet("1", "lists.example.net", "none", listAAR)
	for _, tc := range []struct {
		name, from, arc string
		auth            []sdk.AuthResult
		action          sdk.Action
		sealer          string // the override's sealer and instance, "" for none
	}{
		{"trusted sealer saw dmarc=pass", "a@example.org", list, []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionContinue, "lists.example.net i=1"},
		{"p=quarantine", "a@quar.test", arcSet("1", "lists.example.net", "none", "x; dmarc=pass header.from=quar.test"), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionContinue, "lists.example.net i=1"},
		{"untrusted sealer", "a@example.org", arcSet("1", "evil.example", "none", listAAR), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"subdomain of a trusted sealer", "a@example.org", arcSet("1", "x.lists.example.net", "none", listAAR), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"arc=fail", "a@example.org", list, []sdk.AuthResult{arcRes("fail", "")}, sdk.ActionReject, ""},
		{"arc=pass and arc=fail", "a@example.org", list, []sdk.AuthResult{arcRes("pass", "0"), arcRes("fail", "")}, sdk.ActionReject, ""},
		{"no arc result", "a@example.org", list, nil, sdk.ActionReject, ""},
		{"trusted sealer saw dmarc=fail", "a@example.org", arcSet("1", "lists.example.net", "none", "mx; dmarc=fail header.from=example.org"), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"dmarc=pass for another domain", "a@example.org", arcSet("1", "lists.example.net", "none", "mx; dmarc=pass header.from=example.com"), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"only dkim=pass in the AAR", "a@example.org", arcSet("1", "lists.example.net", "none", "mx; dkim=pass header.d=example.org"), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		// A result forged inside a quoted reason or a comment is text.
		{"dmarc=pass in a quoted reason", "a@example.org", arcSet("1", "lists.example.net", "none", `mx; spf=fail reason="x; dmarc=pass header.from=example.org" smtp.mailfrom=a@example.org`), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"dmarc=pass in a comment", "a@example.org", arcSet("1", "lists.example.net", "none", `mx; spf=fail (x; dmarc=pass header.from=example.org) smtp.mailfrom=a@example.org`), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		// Changed after the trusted sealer sealed it: its AMS no longer
		// verifies (oldest-pass 2), so its results are of another message.
		{"changed after the trusted seal", "a@example.org", arcSet("2", "fwd.example", "pass", "fwd; dmarc=fail header.from=example.org") + list, []sdk.AuthResult{arcRes("pass", "2")}, sdk.ActionReject, ""},
		{"trusted seal after a changed one", "a@example.org", arcSet("2", "lists.example.net", "pass", listAAR) + arcSet("1", "fwd.example", "none", "fwd; dmarc=pass header.from=example.org"), []sdk.AuthResult{arcRes("pass", "2")}, sdk.ActionContinue, "lists.example.net i=2"},
		{"untrusted hop after the trusted seal", "a@example.org", arcSet("2", "fwd.example", "pass", "fwd; dmarc=fail header.from=example.org") + list, []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionContinue, "lists.example.net i=1"},
		// Which seal is whose must be beyond doubt.
		{"ARC-Seal with two d=", "a@example.org", strings.Replace(arcSet("1", "evil.example", "none", listAAR), "; s=arc; t=", "; d=lists.example.net; s=arc; t=", 1), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"two AARs of one instance", "a@example.org", "ARC-Authentication-Results: i=1; mx; dmarc=fail header.from=example.org\n" + list, []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionReject, ""},
		{"Unicode sealer in the config", "a@example.org", arcSet("1", "xn--bcher-kva.test", "none", listAAR), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionContinue, "xn--bcher-kva.test i=1"},
		// No override where the policy lets the message through anyway.
		{"p=none", "a@none.test", arcSet("1", "lists.example.net", "none", "x; dmarc=pass header.from=none.test"), []sdk.AuthResult{arcRes("pass", "0")}, sdk.ActionContinue, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, trustedCfg)
			txn := remoteTxn()
			txn.AuthResults = tc.auth
			v := h.Data(txn, append([]byte(tc.arc), msgFrom(tc.from)...))
			if v.Action != tc.action || len(v.AuthResults) != 1 || v.AuthResults[0].Result != ResultFail {
				t.Fatalf("action %v results %+v (%s), want %v with dmarc=fail", v.Action, v.AuthResults, v.Reason, tc.action)
			}
			reason := v.AuthResults[0].Reason
			if tc.sealer == "" {
				if strings.Contains(reason, "trusted_forwarder") {
					t.Fatalf("reason %q names an override", reason)
				}
				return
			}
			want := "dis=none: no SPF or DKIM pass; trusted_forwarder: arc=pass, sealer " + tc.sealer + " saw dmarc=pass"
			if !strings.Contains(reason, want) || !strings.Contains(v.Reason, want) {
				t.Fatalf("A-R reason %q, trace %q: want %q", reason, v.Reason, want)
			}
		})
	}
	// Without the key, no sealer is trusted.
	h := sdktest.New(t, &Plugin{}, "")
	txn := remoteTxn()
	txn.AuthResults = []sdk.AuthResult{arcRes("pass", "0")}
	if v := h.Data(txn, append([]byte(list), msgFrom("a@example.org")...)); v.Action != sdk.ActionReject {
		t.Fatalf("no arc_trusted_sealers: action %v (%s), want reject", v.Action, v.Reason)
	}
}

// TestTrustedForwarderReport: the aggregate report's row of an
// overridden failure has the disposition none and the reason
// trusted_forwarder naming the sealer (RFC 7489 Appendix C).
func TestTrustedForwarderReport(t *testing.T) {
	reportDNS(t)
	dir := t.TempDir()
	clock := &fakeClock{t: day0.Add(12 * 3600e9)}
	p := reportingPlugin(t, dir, newRecMailer(), clock, `{"arc_trusted_sealers": ["lists.example.net"], `+reportsTable+`}`, false)
	txn := sdktest.NewTxn("a@example.org", "bob@example.net")
	txn.Session.ClientIP = "192.0.2.25"
	txn.AuthResults = []sdk.AuthResult{arcRes("pass", "0")}
	m, err := sdktest.ParseMessage(append([]byte(arcSet("1", "lists.example.net", "none", listAAR)), msgFrom("a@example.org")...))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Data(context.Background(), txn, m)
	if err != nil || v.Action != sdk.ActionContinue {
		t.Fatalf("action %v (%s) err %v, want continue", v.Action, v.Reason, err)
	}
	rows := readHistory(t, dir, day0)
	want := []overrideReason{{Type: "trusted_forwarder", Comment: "arc=pass, sealer lists.example.net i=1 saw dmarc=pass"}}
	if len(rows) != 1 || rows[0].Disposition != PolicyNone || !reflect.DeepEqual(rows[0].Reasons, want) {
		t.Fatalf("history %+v, want one row, disposition none, reasons %+v", rows, want)
	}
	b, err := aggregate(ReportsConfig{OrgName: "o", Email: "e@rcpt.example", Submitter: "rcpt.example"}, "example.org", day0, []*historyRow{&rows[0]}).xmlBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<type>trusted_forwarder</type>")) || !bytes.Contains(b, []byte("<comment>arc=pass, sealer lists.example.net i=1 saw dmarc=pass</comment>")) {
		t.Fatalf("report without the trusted_forwarder reason:\n%s", b)
	}
}

func TestTrustedSealersConfig(t *testing.T) {
	for _, bad := range []string{`{"arc_trusted_sealers": [""]}`, `{"arc_trusted_sealers": ["lists example"]}`, `{"arc_trusted_sealers": ["*.example.net"]}`, `{"arc_trusted_sealers": "lists.example.net"}`} {
		if err := (&Plugin{}).Configure(context.Background(), sdk.Config{JSON: []byte(bad)}); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{JSON: []byte(trustedCfg)}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"lists.example.net": true, "xn--bcher-kva.test": true}; !reflect.DeepEqual(p.sealers, want) {
		t.Fatalf("sealers %v, want %v", p.sealers, want)
	}
}

// TestParseAAR: ARC-Authentication-Results as sealers write them, read
// by tokens: a quoted string or a comment never yields a result.
func TestParseAAR(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i    int
		want string // method=result prop=value ..., "|" between results; "error"
	}{
		{"i=1; mx.google.com;\r\n       dkim=pass header.i=@example.org header.s=s1 header.b=Ab/c+d=;\r\n       spf=pass (google.com: domain of a@example.org designates 192.0.2.1 as permitted sender) smtp.mailfrom=a@example.org;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org",
			1, "dkim=pass header.b=Ab/c+d= header.i=@example.org header.s=s1|spf=pass smtp.mailfrom=a@example.org|dmarc=pass header.from=example.org"},
		{"i=2; mx.microsoft.com 1; spf=pass smtp.mailfrom=example.org; dmarc=pass action=none header.from=example.org; dkim=pass header.d=example.org; arc=none",
			2, "spf=pass smtp.mailfrom=example.org|dmarc=pass action=none header.from=example.org|dkim=pass header.d=example.org|arc=none"},
		{`i=3; "mx;x" 1; dkim/1=PASS (a (nested; dmarc=pass) comment) reason="bad \"; dmarc=pass" header.d=example.org`, 3, `dkim=pass header.d=example.org reason=bad "; dmarc=pass`},
		{`i=1; mx; spf=pass smtp.mailfrom="a b"@example.org`, 1, `spf=pass smtp.mailfrom=a b@example.org`},
		// A quoted value folded by the sealer: the CRLF goes, the
		// white space after it stays (RFC 5322 §3.2.2).
		{"i=1; mx; dmarc=pass reason=\"a long\r\n reason\" header.from=example.org", 1, "dmarc=pass header.from=example.org reason=a long reason"},
		{"i=1; mx; none", 1, ""},
		{"i=1; mx; dmarc=pass header.from=a.example header.from=b.example; spf pass; dkim=", 1, ""},
		{"i=1; mx; dmarc=pass (unterminated", 0, "error"},
		{`i=1; mx; dmarc=pass reason="unterminated`, 0, "error"},
		{"mx; dmarc=pass header.from=example.org", 0, "error"},
		{"i=+1; mx", 0, "error"},
		{"i=1", 0, "error"},
	} {
		i, res, err := parseAAR(tc.in)
		var got []string
		for _, r := range res {
			s := r.method + "=" + r.result
			var keys []string
			for k := range r.props {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				s += " " + k + "=" + r.props[k]
			}
			got = append(got, s)
		}
		g := strings.Join(got, "|")
		if err != nil {
			g = "error"
		}
		if g != tc.want || i != tc.i {
			t.Errorf("%q:\n got i=%d %s\nwant i=%d %s", tc.in, i, g, tc.i, tc.want)
		}
	}
}
