package dkim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// Key records of the RFC examples, as published there.
const (
	// RFC 6376 Appendix A.3: brisbane._domainkey.example.com.
	rfc6376Key = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB"
	// RFC 8463 Appendix A.2: the Ed25519 key (the RFC 8032 §7.1 test
	// vector) and the RSA key of the example's second signature.
	rfc8463Ed25519Key = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	rfc8463RSAKey     = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
)

// txtRR renders a TXT record for testlib.DNS, split in 255-octet strings.
func txtRR(name, value string) string {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, `"`+value[:255]+`"`)
		value = value[255:]
	}
	parts = append(parts, `"`+value+`"`)
	return name + ". 60 IN TXT " + strings.Join(parts, " ")
}

// rfcDNS serves the RFC example keys and points the plugin's resolver at
// it through the environment the core sets for plugin processes.
func rfcDNS(t *testing.T) *testlib.DNS {
	t.Helper()
	d := testlib.NewDNS(t,
		txtRR("brisbane._domainkey.example.com", rfc6376Key),
		txtRR("brisbane._domainkey.football.example.com", rfc8463Ed25519Key),
		txtRR("test._domainkey.football.example.com", rfc8463RSAKey),
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	return d
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifier(t *testing.T) *sdktest.Harness {
	t.Helper()
	h := sdktest.New(t, &Plugin{}, `{"mode": "verify"}`)
	if !h.Info().NeedsBody {
		t.Fatal("the verifier must ask for the body")
	}
	return h
}

// results returns the dkim results of a verdict, failing on anything but
// Continue.
func results(t *testing.T, v sdk.Verdict) []sdk.AuthResult {
	t.Helper()
	if v.Action != sdk.ActionContinue || v.Reply != nil {
		t.Fatalf("verdict %v %+v: dkim never refuses", v.Action, v.Reply)
	}
	for _, r := range v.AuthResults {
		if r.Method != "dkim" {
			t.Fatalf("method %q", r.Method)
		}
	}
	return v.AuthResults
}

func TestVerifyRFC6376Example(t *testing.T) {
	rfcDNS(t)
	h := verifier(t)
	msg := readTestdata(t, "rfc6376.eml")
	rs := results(t, h.Data(sdktest.NewTxn("joe@football.example.com", "suzie@shopping.example.net"), msg))
	if len(rs) != 1 || rs[0].Result != ResultPass {
		t.Fatalf("results %+v, want one pass", rs)
	}
	want := map[string]string{"header.d": "example.com", "header.i": "joe@football.example.com",
		"header.s": "brisbane", "header.a": "rsa-sha256", "header.b": "AuUoFEfD"}
	for k, v := range want {
		if rs[0].Props[k] != v {
			t.Errorf("%s = %q, want %q", k, rs[0].Props[k], v)
		}
	}
}

func TestVerifyRFC8463Example(t *testing.T) {
	rfcDNS(t)
	h := verifier(t)
	rs := results(t, h.Data(sdktest.NewTxn("joe@football.example.com", "suzie@shopping.example.net"), readTestdata(t, "rfc8463.eml")))
	if len(rs) != 2 {
		t.Fatalf("results %+v, want two", rs)
	}
	for i, w := range []struct{ s, a, b string }{
		{"brisbane", "ed25519-sha256", "/gCrinpc"},
		{"test", "rsa-sha256", "F45dVWDf"},
	} {
		r := rs[i]
		if r.Result != ResultPass || r.Props["header.d"] != "football.example.com" || r.Props["header.i"] != "@football.example.com" ||
			r.Props["header.s"] != w.s || r.Props["header.a"] != w.a || r.Props["header.b"] != w.b {
			t.Errorf("signature %d: %+v, want pass s=%s a=%s b=%s", i, r, w.s, w.a, w.b)
		}
	}
}

func TestVerifyTampered(t *testing.T) {
	rfcDNS(t)
	h := verifier(t)
	orig := readTestdata(t, "rfc8463.eml")
	for _, tc := range []struct{ name, old, new, reason string }{
		{"header", "Subject: Is dinner ready?", "Subject: Is dinner ready??", "signature did not verify"},
		{"from", "From: Joe SixPack <joe@football.example.com>", "From: Joe SixPack <joe@evil.example>", "signature did not verify"},
		{"body", "We lost the game.", "We won the game.", "body hash did not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Replace(orig, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(msg, orig) {
				t.Fatal("nothing tampered")
			}
			rs := results(t, h.Data(sdktest.NewTxn("joe@football.example.com", "suzie@shopping.example.net"), msg))
			if len(rs) != 2 {
				t.Fatalf("results %+v", rs)
			}
			for _, r := range rs {
				if r.Result != ResultFail || !strings.Contains(r.Reason, tc.reason) {
					t.Errorf("%s: %s (%s), want fail: %s", r.Props["header.s"], r.Result, r.Reason, tc.reason)
				}
			}
		})
	}
	// An added From field is caught by the over-signed h= of the example
	// (from appears twice).
	msg := append([]byte("From: mallory@evil.example\n"), orig...)
	for _, r := range results(t, h.Data(sdktest.NewTxn("", "suzie@shopping.example.net"), msg)) {
		if r.Result != ResultFail {
			t.Errorf("prepended From: %s %s, want fail", r.Result, r.Reason)
		}
	}
}

func TestVerifyErrorsAndUnsigned(t *testing.T) {
	d := rfcDNS(t)
	h := verifier(t)
	txn := sdktest.NewTxn("joe@football.example.com", "suzie@shopping.example.net")

	rs := results(t, h.Data(txn, []byte("From: a@example.org\nSubject: x\n\nhi\n")))
	if len(rs) != 1 || rs[0].Result != ResultNone {
		t.Fatalf("unsigned: %+v, want dkim=none", rs)
	}

	// No key at the selector (NXDOMAIN): permerror.
	msg := bytes.Replace(readTestdata(t, "rfc6376.eml"), []byte("s=brisbane"), []byte("s=gone"), 1)
	rs = results(t, h.Data(txn, msg))
	if len(rs) != 1 || rs[0].Result != ResultPermError || rs[0].Props["header.s"] != "gone" || rs[0].Props["header.d"] != "example.com" {
		t.Fatalf("missing key: %+v, want permerror for s=gone", rs)
	}

	// SERVFAIL for the key: temperror.
	d.Fail("brisbane._domainkey.example.com")
	rs = results(t, h.Data(txn, readTestdata(t, "rfc6376.eml")))
	if len(rs) != 1 || rs[0].Result != ResultTempError {
		t.Fatalf("SERVFAIL: %+v, want temperror", rs)
	}

	// A signature missing required tags: permerror, still named.
	rs = results(t, h.Data(txn, []byte("DKIM-Signature: v=1; d=example.net; s=x\nFrom: a@example.net\n\nhi\n")))
	if len(rs) != 1 || rs[0].Result != ResultPermError || rs[0].Props["header.d"] != "example.net" {
		t.Fatalf("malformed: %+v, want permerror", rs)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	key, _, err := Keygen("example.org", "s1", KeyEd25519, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{
		`{"mode": "relay"}`,
		`{"mode": "sign"}`,
		`{"mode": "sign", "keys": [{"domain": "example.org", "selector": "s1", "key_file": "/nonexistent.key"}]}`,
		`{"mode": "sign", "keys": [{"domain": "example.org", "key_file": "` + key + `"}]}`,
		`{"mode": "sign", "keys": [{"domain": "example.org", "selector": "s1", "key_file": "` + key + `"}], "headers": ["Subject"]}`,
		`{"mode": "sign", "keys": [{"domain": "example.org", "selector": "s1", "key_file": "` + key + `"}], "canonicalization": "loose/simple"}`,
		`{"mode": "sign", "keys": [{"domain": "example.org", "selector": "s1", "key_file": "` + key + `"}], "sign_networks": ["10.0.0.0/33"]}`,
		`{"mode": "verify", "colour": "blue"}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}

// TestVerifySimpleKeepsSpelling: with c=simple/simple the signed fields are
// hashed exactly as received (RFC 6376 §3.4.1), so a field spelt
// "Subject:hello" or folded right after its colon must verify as sent, not
// as "Name: value" re-rendered. Each message goes through the plugin twice:
// parsed by sdktest and parsed by the core's pipeline, both over gRPC.
func TestVerifySimpleKeepsSpelling(t *testing.T) {
	d := testlib.NewDNS(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	path, record, err := Keygen("example.org", "simple", KeyEd25519, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	key, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	h := verifier(t)
	txn := sdktest.NewTxn("alice@example.org", "bob@example.net")
	for _, tc := range []struct{ name, msg string }{
		{"no space after colon", "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n" +
			"Subject:hello\r\nDate: Fri, 11 Jul 2025 21:00:37 +0000\r\n\r\nHi.\r\n"},
		{"folded with a tab", "From: Alice <alice@example.org>\r\nTo:\r\n\tBob <bob@example.net>,\r\n\tCarol <carol@example.net>\r\n" +
			"Subject:\thello\r\n\tagain\r\nDate: Fri, 11 Jul 2025 21:00:37 +0000\r\n\r\nHi.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var signed bytes.Buffer
			err := msgdkim.Sign(&signed, strings.NewReader(tc.msg), &msgdkim.SignOptions{
				Domain: "example.org", Selector: "simple", Signer: key,
				HeaderCanonicalization: msgdkim.CanonicalizationSimple,
				BodyCanonicalization:   msgdkim.CanonicalizationSimple,
				HeaderKeys:             []string{"From", "To", "Subject", "Date"},
			})
			if err != nil {
				t.Fatal(err)
			}
			check := func(how string, rs []sdk.AuthResult) {
				t.Helper()
				if len(rs) != 1 || rs[0].Result != ResultPass {
					t.Errorf("%s: results %+v, want one pass", how, rs)
				}
			}
			check("sdktest", results(t, h.Data(txn, signed.Bytes())))

			core := pipeline.ParseMessage(signed.Bytes())
			m := &sdk.Message{Headers: core.Headers(), Body: core.Body(), BodySize: int64(len(core.Body()))}
			v, err := h.Client().Data(context.Background(), sdk.HookData, txn, m, true)
			if err != nil {
				t.Fatal(err)
			}
			check("core", results(t, v))

			// The same fields without their bytes as received (a core
			// that predates Raw) are re-rendered and fail: the test
			// exercises the spelling, not just the signature.
			for i := range m.Headers {
				m.Headers[i].Raw = nil
			}
			v, err = h.Client().Data(context.Background(), sdk.HookData, txn, m, true)
			if err != nil {
				t.Fatal(err)
			}
			if rs := results(t, v); len(rs) != 1 || rs[0].Result != ResultFail {
				t.Errorf("without Raw: results %+v, want one fail", rs)
			}
		})
	}
}
