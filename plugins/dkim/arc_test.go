package dkim

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// arcDNS serves a loopback zone for the plugin's resolver and returns it
// with a directory for keys.
func arcDNS(t *testing.T) (*testlib.DNS, string) {
	t.Helper()
	d := testlib.NewDNS(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	t.Setenv(EnvHostname, "mx.forwarder.example")
	return d, t.TempDir()
}

// sealer starts a sign stage whose only work for outside mail is an ARC
// seal by domain, with a fresh RSA key published in d.
func sealer(t *testing.T, d *testlib.DNS, dir, domain, mode string) *sdktest.Harness {
	t.Helper()
	path, record, err := Keygen(domain, "arc", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	return sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"mode": %q, "keys": [], "arc": {"domain": %q, "selector": "arc", "key_file": %q}}`, mode, domain, path))
}

// outside is a transaction from a client that may not have its mail
// signed: mail passing through.
func outside() *sdk.Txn {
	t := sdktest.NewTxn("alice@example.org", "list@forwarder.example")
	t.Session.ClientIP = "192.0.2.7"
	t.AuthResults = []sdk.AuthResult{{Method: "spf", Result: "pass", Props: map[string]string{"smtp.mailfrom": "alice@example.org"}}}
	return t
}

// arcOf returns the arc result of a verdict, if any.
func arcOf(t *testing.T, v sdk.Verdict) (sdk.AuthResult, bool) {
	t.Helper()
	var out []sdk.AuthResult
	for _, r := range v.AuthResults {
		if r.Method == "arc" {
			out = append(out, r)
		}
	}
	if len(out) > 1 {
		t.Fatalf("%d arc results: %+v", len(out), out)
	}
	if len(out) == 0 {
		return sdk.AuthResult{}, false
	}
	return out[0], true
}

// seal runs h over msg from outside and returns the sealed message.
func seal(t *testing.T, h *sdktest.Harness, msg []byte) ([]byte, sdk.Verdict) {
	t.Helper()
	v := h.Data(outside(), msg)
	if v.Action != sdk.ActionContinue {
		t.Fatalf("verdict %v", v.Action)
	}
	return sdktest.Apply(t, msg, v), v
}

// field returns the value of the first field called name in msg.
func field(t *testing.T, msg []byte, name string) string {
	t.Helper()
	m, err := sdktest.ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	return m.Get(name)
}

func wantARC(t *testing.T, h *sdktest.Harness, msg []byte, result string) sdk.AuthResult {
	t.Helper()
	r, ok := arcOf(t, h.Data(outside(), msg))
	if !ok || r.Result != result {
		t.Fatalf("arc %+v (present %v), want %s", r, ok, result)
	}
	return r
}

func TestARCSealTwiceVerifies(t *testing.T) {
	d, dir := arcDNS(t)
	first := sealer(t, d, dir, "forwarder.example", ModeSign)
	second := sealer(t, d, dir, "list.example", ModeSign)
	h := verifier(t)

	one, v := seal(t, first, []byte(plainMessage))
	if len(v.Edits) != 3 || !strings.Contains(v.Reason, "sealed i=1 cv=none") {
		t.Fatalf("first seal: %d edits, %q", len(v.Edits), v.Reason)
	}
	aar := field(t, one, fieldAAR)
	for _, want := range []string{"i=1; mx.forwarder.example;", "spf=pass smtp.mailfrom=alice@example.org", "arc=none"} {
		if !strings.Contains(aar, want) {
			t.Errorf("AAR %q lacks %q", aar, want)
		}
	}
	if as := field(t, one, fieldAS); !strings.HasPrefix(as, "i=1; cv=none; a=rsa-sha256;\r\n\td=forwarder.example; s=arc;") {
		t.Errorf("AS %q", as)
	}
	r := wantARC(t, h, one, cvPass)
	if r.Props["header.oldest-pass"] != "0" || r.Props["smtp.remote-ip"] != "192.0.2.7" {
		t.Errorf("props %v", r.Props)
	}

	two, v := seal(t, second, one)
	if !strings.Contains(v.Reason, "sealed i=2 cv=pass") {
		t.Fatalf("second seal: %q", v.Reason)
	}
	if aar := field(t, two, fieldAAR); !strings.HasPrefix(aar, "i=2; mx.forwarder.example;") || !strings.Contains(aar, "arc=pass") {
		t.Errorf("second AAR %q", aar)
	}
	wantARC(t, h, two, cvPass)

}

func TestARCVerifyFails(t *testing.T) {
	d, dir := arcDNS(t)
	first := sealer(t, d, dir, "forwarder.example", ModeSign)
	second := sealer(t, d, dir, "list.example", ModeSign)
	h := verifier(t)
	one, _ := seal(t, first, []byte(plainMessage))
	two, _ := seal(t, second, one)

	dropSecond := func(msg []byte, name string, i int) []byte {
		re := regexp.MustCompile(`(?m)^` + name + `: i=` + fmt.Sprint(i) + `;[^\n]*\n([ \t][^\n]*\n)*`)
		out := re.ReplaceAll(msg, nil)
		if bytes.Equal(out, msg) {
			t.Fatalf("no %s i=%d", name, i)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		msg    []byte
		reason string
	}{
		{"body", bytes.Replace(two, []byte("Hello,  Bob."), []byte("Hello, Mallory."), 1), "body hash"},
		{"signed header", bytes.Replace(two, []byte("Subject: quarterly report"), []byte("Subject: wire money"), 1), "did not verify"},
		{"missing AS", dropSecond(two, fieldAS, 1), "lacks a field"},
		{"missing set", dropSecond(dropSecond(dropSecond(two, fieldAS, 1), fieldAMS, 1), fieldAAR, 1), "no ARC Set of i=1"},
		{"duplicate instance", append([]byte("ARC-Seal: "+field(t, two, fieldAS)+"\r\n"), two...), "two ARC-Seal fields of i=2"},
		{"altered AAR", bytes.Replace(two, []byte("arc=none"), []byte("arc=pass"), 1), "ARC-Seal i="},
		{"over 50", append([]byte("ARC-Seal: i=51; cv=pass; a=rsa-sha256; d=x.example; s=a; b=AA==\r\n"), two...), "want 1 to 50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wantARC(t, h, tc.msg, cvFail)
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
		})
	}
}

// TestARCFailedChain: a chain that fails validation gets one more seal,
// cv=fail (RFC 8617 §5.1.1), never cv=pass; a chain whose newest seal
// says cv=fail gets none (§5.1), and validates as fail (§5.2 step 2).
func TestARCFailedChain(t *testing.T) {
	d, dir := arcDNS(t)
	first := sealer(t, d, dir, "forwarder.example", ModeSign)
	second := sealer(t, d, dir, "list.example", ModeSign)
	h := verifier(t)
	one, _ := seal(t, first, []byte(plainMessage))
	broken := bytes.Replace(one, []byte("d=forwarder.example; s=arc;\r\n\tb="), []byte("d=forwarder.example; s=arc;\r\n\tb=AAAA"), 1)
	broken = bytes.Replace(broken, []byte("cv=none"), []byte("cv=none "), 1) // breaks the seal, not the AMS

	two, v := seal(t, second, broken)
	if !strings.Contains(v.Reason, "sealed i=2 cv=fail") {
		t.Fatalf("reason %q, want a cv=fail seal", v.Reason)
	}
	if as := field(t, two, fieldAS); !strings.HasPrefix(as, "i=2; cv=fail;") {
		t.Fatalf("AS %q", as)
	}
	if r := wantARC(t, h, two, cvFail); !strings.Contains(r.Reason, "cv=fail") {
		t.Errorf("reason %q", r.Reason)
	}

	three, v := seal(t, first, two)
	if len(v.Edits) != 0 || !strings.Contains(v.Reason, "ended upstream with cv=fail") {
		t.Fatalf("sealed over cv=fail: %d edits, %q", len(v.Edits), v.Reason)
	}
	if !bytes.Equal(three, sdktest.Apply(t, two, sdk.Verdict{})) {
		t.Error("message changed")
	}
}

func TestARCNoneWithoutFields(t *testing.T) {
	rfcDNS(t)
	h := verifier(t)
	v := h.Data(outside(), []byte(plainMessage))
	if r, ok := arcOf(t, v); ok {
		t.Fatalf("arc result %+v for a message without ARC fields", r)
	}
	if len(v.AuthResults) != 1 || v.AuthResults[0].Method != "dkim" || v.AuthResults[0].Result != ResultNone {
		t.Fatalf("results %+v, want dkim=none alone", v.AuthResults)
	}
}

// TestARCNotForOwnMail: the stage's own users' mail gets a DKIM
// signature and no seal; mail passing through the other way round.
func TestARCNotForOwnMail(t *testing.T) {
	d, dir := arcDNS(t)
	path, record, err := Keygen("example.org", "s1", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	arcPath, arcRecord, err := Keygen("forwarder.example", "arc", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, arcRecord)
	for _, mode := range []string{ModeSign, ModeBoth} {
		t.Run(mode, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"mode": %q, "keys": [{"domain": "example.org", "selector": "s1", "key_file": %q}],
				"arc": {"domain": "forwarder.example", "selector": "arc", "key_file": %q}}`, mode, path, arcPath))
			if !h.Info().NeedsBody {
				t.Fatal("a sealer needs the body")
			}
			local := sdktest.NewTxn("alice@example.org", "bob@example.net") // 127.0.0.1, in sign_networks
			authed := outside()
			authed.Session.AuthUser = "alice"
			for _, txn := range []*sdk.Txn{local, authed} {
				v := h.Data(txn, []byte(plainMessage))
				if len(v.Edits) != 1 || v.Edits[0].(sdk.InsertHeader).Name != "DKIM-Signature" {
					t.Errorf("%s/%q: edits %v, want a DKIM-Signature alone", txn.Session.ClientIP, txn.Session.AuthUser, v.Edits)
				}
			}
			v := h.Data(outside(), []byte(plainMessage))
			var names []string
			for _, e := range v.Edits {
				names = append(names, e.(sdk.InsertHeader).Name)
			}
			if strings.Join(names, ",") != "ARC-Seal,ARC-Message-Signature,ARC-Authentication-Results" {
				t.Errorf("outside mail: edits %v", names)
			}
			aar := v.Edits[2].(sdk.InsertHeader).Value
			if mode == ModeBoth && !strings.Contains(aar, "dkim=none") {
				t.Errorf("both: AAR %q lacks the stage's own dkim result", aar)
			}
		})
	}
}

func TestARCConfigErrors(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _, err := Keygen("example.org", "arc", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cfg, want string }{
		{`{"mode": "sign", "keys": [], "arc": {"domain": "example.org", "key_file": "` + rsaKey + `"}}`, "arc.selector is required"},
		{`{"mode": "sign", "keys": [], "arc": {"domain": "example.org", "selector": "arc"}}`, "arc.key_file is required"},
		{`{"mode": "sign", "keys": [], "arc": {"selector": "arc", "key_file": "` + rsaKey + `"}}`, "arc.domain is required"},
		{`{"mode": "sign", "keys": [], "arc": {"domain": "example.org", "selector": "arc", "key_file": "/nonexistent.key"}}`, "arc.key_file"},
		{`{"mode": "verify", "arc": {"domain": "example.org", "selector": "arc", "key_file": "` + rsaKey + `"}}`, "sign or both"},
		{`{"mode": "sign", "keys": [], "arc": {"domain": "example.org", "selector": "arc", "key_file": "` + rsaKey + `", "colour": "blue"}}`, "colour"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestARCCanonicalization(t *testing.T) {
	for _, tc := range []struct{ in, simple, relaxed string }{
		{"", "\r\n", ""},
		{"a  b \t\r\n\r\n\r\n", "a  b \t\r\n", "a b\r\n"},
		{"a\r\n \t\r\n", "a\r\n \t\r\n", "a\r\n"},
		{"x\ny", "x\r\ny\r\n", "x\r\ny\r\n"},
	} {
		if got := string(canonBody([]byte(tc.in), false)); got != tc.simple {
			t.Errorf("simple %q = %q, want %q", tc.in, got, tc.simple)
		}
		if got := string(canonBody([]byte(tc.in), true)); got != tc.relaxed {
			t.Errorf("relaxed %q = %q, want %q", tc.in, got, tc.relaxed)
		}
	}
	if got := canonHeader("SubJect \t:  a \r\n\t b  ", true); got != "subject:a b" {
		t.Errorf("relaxed header %q", got)
	}
	if got := withEmptyB("ARC-Seal: i=1; bh=x; b=abc\r\n\tdef; d=x"); got != "ARC-Seal: i=1; bh=x; b=; d=x" {
		t.Errorf("withEmptyB %q", got)
	}
}
