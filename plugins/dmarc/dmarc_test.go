package dmarc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// dmarcDNS serves the policies the tests use and points the plugin's
// resolver at them. .test is not in the public suffix list, so its
// organizational domains are the names right under it.
func dmarcDNS(t *testing.T) *testlib.DNS {
	t.Helper()
	d := testlib.NewDNS(t,
		`_dmarc.example.org. 60 IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org"`,
		`_dmarc.own.example.org. 60 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.strict.test. 60 IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`,
		`_dmarc.quar.test. 60 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.none.test. 60 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.pct0.test. 60 IN TXT "v=DMARC1; p=reject; pct=0"`,
		`_dmarc.pct0q.test. 60 IN TXT "v=DMARC1; p=quarantine; pct=0"`,
		`_dmarc.pct100.test. 60 IN TXT "v=DMARC1; p=reject; pct=100"`,
		`_dmarc.pct50.test. 60 IN TXT "v=DMARC1; p=reject; pct=50"`,
		`_dmarc.pctneg.test. 60 IN TXT "v=DMARC1; p=reject; pct=-5"`,
		`_dmarc.pctbig.test. 60 IN TXT "v=DMARC1; p=reject; pct=250"`,
		`_dmarc.pctnan.test. 60 IN TXT "v=DMARC1; p=quarantine; pct=half"`,
		`_dmarc.nosp.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 60 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.spf1.test. 60 IN TXT "v=spf1 -all"`,
		`_dmarc.nop.test. 60 IN TXT "v=DMARC1; adkim=s"`,
		`norecord.test. 60 IN A 192.0.2.1`,
		`_dmarc.xn--bcher-kva.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.bank.xn--55qx5d.cn. 60 IN TXT "v=DMARC1; p=reject"`,
	)
	d.Fail("_dmarc.broken.test")
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	return d
}

func spf(mailfrom string) sdk.AuthResult {
	return sdk.AuthResult{Method: "spf", Result: "pass", Props: map[string]string{"smtp.mailfrom": mailfrom}, Stage: "spf"}
}

func spfHelo(helo string) sdk.AuthResult {
	return sdk.AuthResult{Method: "spf", Result: "pass", Props: map[string]string{"smtp.helo": helo}, Stage: "spf"}
}

func dkimRes(result, d string) sdk.AuthResult {
	return sdk.AuthResult{Method: "dkim", Result: result, Props: map[string]string{"header.d": d, "header.s": "s1"}, Stage: "dkim"}
}

// remoteTxn is a transaction from a client outside skip_networks, who did
// not authenticate: one whose mail DMARC evaluates.
func remoteTxn() *sdk.Txn {
	t := sdktest.NewTxn("a@example.org", "bob@example.net")
	t.Session.ClientIP = "192.0.2.25"
	return t
}

func msgFrom(from string) []byte {
	return []byte("From: " + from + "\nTo: bob@example.net\nSubject: hi\n\nbody\n")
}

func TestDMARC(t *testing.T) {
	dmarcDNS(t)
	for _, tc := range []struct {
		name   string
		from   string
		auth   []sdk.AuthResult
		draw   int // what the injected random source returns
		result string
		action sdk.Action
	}{
		// Alignment, relaxed (example.org: p=reject, sp=quarantine).
		{"spf only, relaxed", "a@example.org", []sdk.AuthResult{spf("bounce@mail.example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"spf domain only", "a@example.org", []sdk.AuthResult{spf("example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"dkim only, relaxed", "a@example.org", []sdk.AuthResult{dkimRes("pass", "mail.example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"dkim aligned but failed", "a@example.org", []sdk.AuthResult{dkimRes("fail", "example.org")}, 0, ResultFail, sdk.ActionReject},
		{"neither aligned", "a@example.org", []sdk.AuthResult{spf("x@other.example"), dkimRes("pass", "other.example")}, 0, ResultFail, sdk.ActionReject},
		{"no results at all", "a@example.org", nil, 0, ResultFail, sdk.ActionReject},
		{"spf fail, dkim aligned", "a@example.org", []sdk.AuthResult{{Method: "spf", Result: "fail", Props: map[string]string{"smtp.mailfrom": "a@example.org"}}, dkimRes("pass", "example.org")}, 0, ResultPass, sdk.ActionContinue},
		// The HELO identity counts only for a null sender (no smtp.mailfrom).
		{"spf helo, null sender", "a@example.org", []sdk.AuthResult{spfHelo("mx.example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"spf helo besides mailfrom", "a@example.org", []sdk.AuthResult{spfHelo("mx.example.org"), {Method: "spf", Result: "softfail", Props: map[string]string{"smtp.mailfrom": "x@other.example"}}}, 0, ResultFail, sdk.ActionReject},
		// Alignment, strict (strict.test: adkim=s aspf=s).
		{"strict spf exact", "a@strict.test", []sdk.AuthResult{spf("a@strict.test")}, 0, ResultPass, sdk.ActionContinue},
		{"strict spf subdomain", "a@strict.test", []sdk.AuthResult{spf("b@mail.strict.test")}, 0, ResultFail, sdk.ActionReject},
		{"strict dkim exact", "a@strict.test", []sdk.AuthResult{dkimRes("pass", "STRICT.test.")}, 0, ResultPass, sdk.ActionContinue},
		{"strict dkim subdomain", "a@strict.test", []sdk.AuthResult{dkimRes("pass", "mail.strict.test")}, 0, ResultFail, sdk.ActionReject},
		// Policies.
		{"p=none", "a@none.test", nil, 0, ResultFail, sdk.ActionContinue},
		{"p=quarantine", "a@quar.test", nil, 0, ResultFail, sdk.ActionQuarantine},
		// sp: the record of the organizational domain, for a subdomain.
		{"sp=quarantine", "a@sub.example.org", nil, 0, ResultFail, sdk.ActionQuarantine},
		{"sp absent: p", "a@sub.nosp.test", nil, 0, ResultFail, sdk.ActionReject},
		{"own record beats sp", "a@own.example.org", nil, 0, ResultFail, sdk.ActionContinue},
		{"subdomain aligned with org", "a@sub.example.org", []sdk.AuthResult{dkimRes("pass", "example.org")}, 0, ResultPass, sdk.ActionContinue},
		// pct: sampled messages get the policy, the rest the next weaker.
		{"pct=0 reject", "a@pct0.test", nil, 0, ResultFail, sdk.ActionQuarantine},
		{"pct=0 quarantine", "a@pct0q.test", nil, 0, ResultFail, sdk.ActionContinue},
		{"pct=100", "a@pct100.test", nil, 99, ResultFail, sdk.ActionReject},
		{"pct=50 sampled", "a@pct50.test", nil, 49, ResultFail, sdk.ActionReject},
		{"pct=50 not sampled", "a@pct50.test", nil, 50, ResultFail, sdk.ActionQuarantine},
		// An invalid pct is discarded for the default, 100 (RFC 7489
		// §6.3): the policy applies to every failing message.
		{"pct=-5", "a@pctneg.test", nil, 99, ResultFail, sdk.ActionReject},
		{"pct=250", "a@pctbig.test", nil, 99, ResultFail, sdk.ActionReject},
		{"pct=half", "a@pctnan.test", nil, 99, ResultFail, sdk.ActionQuarantine},
		// No policy.
		{"no record", "a@norecord.test", nil, 0, ResultNone, sdk.ActionContinue},
		{"nxdomain", "a@nowhere.test", nil, 0, ResultNone, sdk.ActionContinue},
		{"two records", "a@two.test", nil, 0, ResultNone, sdk.ActionContinue},
		{"not a dmarc record", "a@spf1.test", nil, 0, ResultNone, sdk.ActionContinue},
		{"no p and no rua", "a@nop.test", nil, 0, ResultNone, sdk.ActionContinue},
		{"temperror", "a@broken.test", nil, 0, ResultTempError, sdk.ActionTempfail},
		// An aligned check that failed for now (a DKIM key lookup's
		// SERVFAIL) is no evidence of forgery: temperror, not the policy.
		{"aligned dkim temperror", "a@example.org", []sdk.AuthResult{dkimRes("temperror", "example.org")}, 0, ResultTempError, sdk.ActionTempfail},
		{"aligned spf temperror", "a@example.org", []sdk.AuthResult{{Method: "spf", Result: "temperror", Props: map[string]string{"smtp.mailfrom": "a@example.org"}}}, 0, ResultTempError, sdk.ActionTempfail},
		{"aligned temperror, p=quarantine", "a@quar.test", []sdk.AuthResult{dkimRes("temperror", "quar.test")}, 0, ResultTempError, sdk.ActionTempfail},
		{"aligned temperror, p=none", "a@none.test", []sdk.AuthResult{dkimRes("temperror", "none.test")}, 0, ResultTempError, sdk.ActionContinue},
		{"aligned temperror, other aligned pass", "a@example.org", []sdk.AuthResult{dkimRes("temperror", "example.org"), spf("a@example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"unaligned temperror", "a@example.org", []sdk.AuthResult{dkimRes("temperror", "other.example")}, 0, ResultFail, sdk.ActionReject},
		{"strict: subdomain temperror unaligned", "a@strict.test", []sdk.AuthResult{dkimRes("temperror", "mail.strict.test")}, 0, ResultFail, sdk.ActionReject},
		{"aligned permerror", "a@example.org", []sdk.AuthResult{dkimRes("permerror", "example.org")}, 0, ResultFail, sdk.ActionReject},
		// From field.
		{"display name", `"Alice, A." <a@example.org>`, []sdk.AuthResult{spf("a@example.org")}, 0, ResultPass, sdk.ActionContinue},
		{"two addresses one domain", "a@example.org, b@example.org", []sdk.AuthResult{spf("a@example.org")}, 0, ResultPass, sdk.ActionContinue},
		// Internationalized domains compare, and find their organizational
		// domain, as A-labels (RFC 8616 §6), whichever form each side uses.
		{"U-label From, A-label d=", "a@bücher.test", []sdk.AuthResult{dkimRes("pass", "xn--bcher-kva.test")}, 0, ResultPass, sdk.ActionContinue},
		{"A-label From, U-label mailfrom", "a@xn--bcher-kva.test", []sdk.AuthResult{spf("b@mail.BÜCHER.test")}, 0, ResultPass, sdk.ActionContinue},
		{"U-label From, unaligned", "a@bücher.test", []sdk.AuthResult{dkimRes("pass", "bucher.test")}, 0, ResultFail, sdk.ActionReject},
		// 公司.cn is a public suffix: a neighbour under it is no alignment.
		{"IDN public suffix, neighbour", "a@bank.公司.cn", []sdk.AuthResult{dkimRes("pass", "evil.公司.cn")}, 0, ResultFail, sdk.ActionReject},
		{"IDN public suffix, own subdomain", "a@bank.公司.cn", []sdk.AuthResult{dkimRes("pass", "mail.bank.xn--55qx5d.cn")}, 0, ResultPass, sdk.ActionContinue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			draw := tc.draw
			h := sdktest.New(t, &Plugin{IntN: func(n int) int {
				if n != 100 {
					t.Errorf("IntN(%d)", n)
				}
				return draw
			}}, "")
			txn := remoteTxn()
			txn.AuthResults = tc.auth
			v := h.Data(txn, msgFrom(tc.from))
			if len(v.AuthResults) != 1 || v.AuthResults[0].Method != "dmarc" {
				t.Fatalf("auth results %+v", v.AuthResults)
			}
			ar := v.AuthResults[0]
			if ar.Result != tc.result || v.Action != tc.action {
				t.Fatalf("dmarc=%s action %v (%s), want dmarc=%s action %v", ar.Result, v.Action, v.Reason, tc.result, tc.action)
			}
			if tc.result != ResultPermError && ar.Props["header.from"] == "" {
				t.Errorf("no header.from: %+v", ar)
			}
			if hf := ar.Props["header.from"]; hf != dnsresolve.Fold(hf) {
				t.Errorf("header.from=%s, want lowercase A-labels", hf)
			}
			switch v.Action {
			case sdk.ActionReject:
				if v.Reply == nil || v.Reply.Code != 550 || v.Reply.Enhanced != "5.7.1" || !strings.Contains(v.Reply.Text, "DMARC policy of "+ar.Props["header.from"]) {
					t.Errorf("reply %+v, want 550 5.7.1 naming the domain", v.Reply)
				}
			case sdk.ActionTempfail:
				if v.Reply == nil || v.Reply.Code != 451 || v.Reply.Enhanced != "4.7.1" {
					t.Errorf("reply %+v, want 451 4.7.1", v.Reply)
				}
			}
		})
	}
}

func TestHeadersOnly(t *testing.T) {
	dmarcDNS(t)
	if sdktest.New(t, &Plugin{}, "").Info().NeedsBody {
		t.Fatal("dmarc needs only the header")
	}
}

func TestLocalPolicy(t *testing.T) {
	dmarcDNS(t)
	for _, tc := range []struct {
		cfg, from string
		two       bool // two From fields
		action    sdk.Action
		code      int
	}{
		{`{"reject": false}`, "a@example.org", false, sdk.ActionQuarantine, 0},
		{`{"reject": false, "quarantine": false}`, "a@example.org", false, sdk.ActionContinue, 0},
		{`{"quarantine": false}`, "a@quar.test", false, sdk.ActionContinue, 0},
		{`{"no_record": "reject"}`, "a@norecord.test", false, sdk.ActionReject, 550},
		{`{"no_record": "quarantine"}`, "a@norecord.test", false, sdk.ActionQuarantine, 0},
		{`{"temperror": "continue"}`, "a@broken.test", false, sdk.ActionContinue, 0},
		// A second From field is checked as well: the forged one above
		// (a domain without a record) does not hide example.org's p=reject.
		{`{}`, "a@example.org", true, sdk.ActionReject, 550},
		{`{"reject": false}`, "a@example.org", true, sdk.ActionQuarantine, 0},
	} {
		t.Run(tc.cfg+" "+tc.from, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, tc.cfg)
			msg := msgFrom(tc.from)
			if tc.two {
				msg = append([]byte("From: b@norecord.test\n"), msg...)
			}
			v := h.Data(remoteTxn(), msg)
			if v.Action != tc.action || (tc.code != 0 && (v.Reply == nil || v.Reply.Code != tc.code)) {
				t.Fatalf("action %v reply %+v (%s), want %v %d", v.Action, v.Reply, v.Reason, tc.action, tc.code)
			}
			if tc.two && (len(v.AuthResults) != 2 || v.AuthResults[0].Result != ResultNone || v.AuthResults[1].Result != ResultFail) {
				t.Fatalf("two From fields: %+v", v.AuthResults)
			}
		})
	}
	for _, bad := range []string{`{"no_record": "drop"}`, `{"temperror": ""}`, `{"policy": "x"}`} {
		if _, err := sdktest.Start(t, &Plugin{}, bad); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}

// TestTemperrorAction: an aligned temperror takes the temperror action,
// as a failed _dmarc lookup does.
func TestTemperrorAction(t *testing.T) {
	dmarcDNS(t)
	for cfg, want := range map[string]sdk.Action{`{}`: sdk.ActionTempfail, `{"temperror": "continue"}`: sdk.ActionContinue, `{"temperror": "reject"}`: sdk.ActionReject} {
		h := sdktest.New(t, &Plugin{}, cfg)
		txn := remoteTxn()
		txn.AuthResults = []sdk.AuthResult{dkimRes("temperror", "example.org")}
		v := h.Data(txn, msgFrom("a@example.org"))
		if v.Action != want || len(v.AuthResults) != 1 || v.AuthResults[0].Result != ResultTempError {
			t.Errorf("%s: action %v results %+v (%s), want %v and dmarc=temperror", cfg, v.Action, v.AuthResults, v.Reason, want)
		}
	}
}

// TestSkippedClients: the site's own clients — loopback and authenticated
// sessions by default, as the spf stage skips — are not evaluated: their
// mail from a p=reject domain has no SPF result (spf skipped them) and no
// signature yet (signing comes after dmarc). The trace says why; no
// dmarc result is reported.
func TestSkippedClients(t *testing.T) {
	dmarcDNS(t)
	msg := msgFrom("a@example.org") // p=reject, nothing aligned
	for _, tc := range []struct {
		name, cfg, ip, user string
		skipped             bool
		relay               bool
	}{
		{"loopback", `{}`, "127.0.0.1", "", true, false},
		{"loopback v6", `{}`, "::1", "", true, false},
		{"loopback v4-mapped", `{}`, "::ffff:127.0.0.2", "", true, false},
		{"authenticated", `{}`, "192.0.2.25", "alice", true, false},
		{"stranger", `{}`, "192.0.2.25", "", false, false},
		{"skip_networks = []", `{"skip_networks": []}`, "127.0.0.1", "", false, false},
		{"own network", `{"skip_networks": ["192.0.2.0/24", "2001:db8::1"]}`, "192.0.2.25", "", true, false},
		{"own address v6", `{"skip_networks": ["192.0.2.0/24", "2001:db8::1"]}`, "2001:db8::1", "", true, false},
		{"loopback not listed", `{"skip_networks": ["192.0.2.0/24"]}`, "127.0.0.1", "", false, false},
		{"skip_authenticated = false", `{"skip_authenticated": false}`, "192.0.2.25", "alice", false, false},
		{"relay client", `{}`, "192.0.2.25", "", true, true},
		{"skip_relay_clients = false", `{"skip_relay_clients": false}`, "192.0.2.25", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, tc.cfg)
			txn := remoteTxn()
			txn.Session.ClientIP, txn.Session.AuthUser, txn.Session.RelayClient = tc.ip, tc.user, tc.relay
			v := h.Data(txn, msg)
			if !tc.skipped {
				if v.Action != sdk.ActionReject || len(v.AuthResults) != 1 || v.AuthResults[0].Result != ResultFail {
					t.Fatalf("action %v results %+v (%s), want evaluated and rejected", v.Action, v.AuthResults, v.Reason)
				}
				return
			}
			if v.Action != sdk.ActionContinue || v.Reply != nil || len(v.AuthResults) != 0 {
				t.Fatalf("action %v reply %+v results %+v, want skipped", v.Action, v.Reply, v.AuthResults)
			}
			want := "skip_networks"
			switch {
			case tc.user != "":
				want = "authenticated client"
			case tc.relay:
				want = "relay_networks"
			}
			if !strings.HasPrefix(v.Reason, "dmarc: not evaluated") || !strings.Contains(v.Reason, want) {
				t.Errorf("trace reason %q, want it to say the client was skipped (%s)", v.Reason, want)
			}
		})
	}
	for _, bad := range []string{`{"skip_networks": ["not-a-net"]}`, `{"skip_networks": "127.0.0.1"}`, `{"skip_authenticated": "yes"}`} {
		if _, err := sdktest.Start(t, &Plugin{}, bad); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt  string
		want string // %+v of the record, or "error"
	}{
		{"v=DMARC1; p=reject", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1;p=Quarantine;sp=none;adkim=s;aspf=r;pct=20;rua=mailto:x@y;fo=1;unknown=z", "{Policy:quarantine SubdomainPolicy:none StrictDKIM:true StrictSPF:false Percent:20 RUA:[mailto:x@y] RUF:[] FO:1 Interval:86400}"},
		// Report tags: rua and ruf as written, "!size" kept (RFC 7489 §6.4).
		{"v=DMARC1; p=none; rua=mailto:a@example.org!10m , mailto:b@x.test,; ruf=mailto:f@y.test; fo=d:s; ri=3600", "{Policy:none SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[mailto:a@example.org!10m mailto:b@x.test] RUF:[mailto:f@y.test] FO:d:s Interval:3600}"},
		{"v=DMARC1; p=none; ri=-1", "{Policy:none SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=bogus; rua=mailto:x@y", "{Policy:none SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[mailto:x@y] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=250", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=-5", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=+50", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:100 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=0", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:0 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=reject; pct=007", "{Policy:reject SubdomainPolicy: StrictDKIM:false StrictSPF:false Percent:7 RUA:[] RUF:[] FO:0 Interval:86400}"},
		{"v=DMARC1; p=bogus", "error"},
		{"v=DMARC1; p=reject; sp=bogus", "error"},
		{"p=reject; v=DMARC1", "error"},
		{"v=DMARC2; p=reject", "error"},
	} {
		r, err := ParseRecord(tc.txt)
		got := "error"
		if err == nil {
			got = fmt.Sprintf("%+v", *r)
		}
		if got != tc.want {
			t.Errorf("%q: %s, want %s", tc.txt, got, tc.want)
		}
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.org": "example.org", "a.b.example.org": "example.org", "Mail.Example.CO.UK.": "example.co.uk",
		"co.uk": "co.uk", "x.y.test": "y.test",
		"foo.github.io": "foo.github.io", "x.foo.github.io": "foo.github.io", // a private suffix
		"mail.example.公司.cn": "example.xn--55qx5d.cn", "公司.cn": "xn--55qx5d.cn",
	} {
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestMultiDomainFrom: a From field with addresses in several domains is
// checked for each domain, and the strictest failing policy applies (RFC
// 7489 §6.6.1). It was a permerror, left to the permerror action —
// continue by default — so that "From: x@attacker.example,
// ceo@example.org" passed example.org's p=reject with no check at all.
func TestMultiDomainFrom(t *testing.T) {
	dmarcDNS(t)
	h := sdktest.New(t, &Plugin{IntN: func(int) int { return 0 }}, "")
	var nine []string
	for i := 0; i < maxAuthorDomains+1; i++ {
		nine = append(nine, fmt.Sprintf("u@d%d.test", i))
	}
	for _, tc := range []struct {
		name, from string
		auth       []sdk.AuthResult
		action     sdk.Action
		results    []string // one per domain, in the field's order
	}{
		{"attacker's own domain passes, the other fails", "x@norecord.test, CEO <ceo@example.org>",
			[]sdk.AuthResult{spf("x@norecord.test")}, sdk.ActionReject, []string{ResultNone, ResultFail}},
		{"both fail: the stricter policy", "a@example.org, b@quar.test", nil, sdk.ActionReject, []string{ResultFail, ResultFail}},
		{"one passes, the other quarantines", "a@example.org, b@quar.test",
			[]sdk.AuthResult{dkimRes("pass", "example.org")}, sdk.ActionQuarantine, []string{ResultPass, ResultFail}},
		{"both pass", "a@example.org, b@quar.test",
			[]sdk.AuthResult{dkimRes("pass", "example.org"), dkimRes("pass", "quar.test")}, sdk.ActionContinue, []string{ResultPass, ResultPass}},
		{"a reject beats a DNS failure", "a@broken.test, ceo@example.org", nil, sdk.ActionReject, []string{ResultTempError, ResultFail}},
		{"repeated domain checked once", "a@example.org, B <b@EXAMPLE.org>", []sdk.AuthResult{spf("a@example.org")}, sdk.ActionContinue, []string{ResultPass}},
		{"too many domains: refused", strings.Join(nine, ", "), nil, sdk.ActionReject, []string{ResultPermError}},
		// A From that does not parse still has its domains checked.
		{"unparseable field", "ceo@example.org@x", nil, sdk.ActionReject, []string{ResultFail, ResultNone}},
		{"unparseable beside a good one", "x@norecord.test", nil, sdk.ActionReject, []string{ResultFail, ResultNone}},
		{"no domain at all", "undisclosed", nil, sdk.ActionContinue, []string{ResultPermError}},
	} {
		txn := remoteTxn()
		txn.AuthResults = tc.auth
		msg := msgFrom(tc.from)
		if tc.name == "unparseable beside a good one" {
			msg = append([]byte("From: CEO <ceo@example.org\n"), msg...) // no closing >
		}
		v := h.Data(txn, msg)
		var got []string
		for _, ar := range v.AuthResults {
			got = append(got, ar.Result)
		}
		if v.Action != tc.action || strings.Join(got, ",") != strings.Join(tc.results, ",") {
			t.Errorf("%s: action %v, dmarc=%v (%s); want %v, dmarc=%v", tc.name, v.Action, got, v.Reason, tc.action, tc.results)
		}
		if v.Action == sdk.ActionReject && tc.results[0] != ResultPermError && (v.Reply == nil || !strings.Contains(v.Reply.Text, "example.org")) {
			t.Errorf("%s: reply %+v, want the policy of example.org", tc.name, v.Reply)
		}
	}
}
