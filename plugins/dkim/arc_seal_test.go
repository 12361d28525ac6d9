package dkim

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// insertedLines returns every line of the fields v inserts.
func insertedLines(v sdk.Verdict) map[string][]string {
	out := map[string][]string{}
	for _, e := range v.Edits {
		if ins, ok := e.(sdk.InsertHeader); ok {
			out[ins.Name] = strings.Split(ins.Name+": "+ins.Value, "\r\n")
		}
	}
	return out
}

// TestARCSealFoldsLongLists: h= lists every occurrence of up to 16 of
// each signed field; a header of many Resent and Cc fields made it one
// line of over a thousand characters, past RFC 5322 §2.1.1's 998. The
// folded seal still verifies.
func TestARCSealFoldsLongLists(t *testing.T) {
	d, dir := arcDNS(t)
	h := sealer(t, d, dir, "forwarder.example", ModeSign)
	var extra strings.Builder
	for i := range 16 {
		for _, name := range []string{"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc", "Cc", "References", "In-Reply-To"} {
			fmt.Fprintf(&extra, "%s: x%d\n", name, i)
		}
	}
	msg := []byte(extra.String() + plainMessage)
	sealed, v := seal(t, h, msg)
	for name, lines := range insertedLines(v) {
		for _, l := range lines {
			if len(l) > 78 {
				t.Errorf("%s: a line of %d characters: %.60q...", name, len(l), l)
			}
		}
	}
	wantARC(t, verifier(t), sealed, cvPass)
}

// TestARCSealWithoutFrom: with From not over-signed, a message without
// From got an AMS with h= empty, which no validator accepts; h= names
// From whether or not the message has one (RFC 6376 §5.4).
func TestARCSealWithoutFrom(t *testing.T) {
	d, dir := arcDNS(t)
	path, record, err := Keygen("forwarder.example", "arc", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"mode": "sign", "keys": [], "headers": ["From"], "oversign": [],
		"arc": {"domain": "forwarder.example", "selector": "arc", "key_file": %q}}`, path))
	sealed, _ := seal(t, h, []byte("Subject: no author\n\nbody\n"))
	if ams := field(t, sealed, fieldAMS); !strings.Contains(ams, "h=From;") {
		t.Errorf("AMS %q: want h=From", ams)
	}
	wantARC(t, verifier(t), sealed, cvPass)
}

// TestARCFailSealCoversOwnSet: the ARC-Seal of cv=fail signs its own ARC
// Set alone (RFC 8617 §5.1.2), not the chain that failed, as dkimpy's
// does; it signed sets 1 and 2.
func TestARCFailSealCoversOwnSet(t *testing.T) {
	d, dir := arcDNS(t)
	first := sealer(t, d, dir, "forwarder.example", ModeSign)
	second := sealer(t, d, dir, "list.example", ModeSign)
	one, _ := seal(t, first, []byte(plainMessage))
	broken := bytes.Replace(one, []byte("cv=none"), []byte("cv=none "), 1) // breaks the seal
	two, v := seal(t, second, broken)
	if !strings.Contains(v.Reason, "sealed i=2 cv=fail") {
		t.Fatalf("reason %q, want a cv=fail seal", v.Reason)
	}
	m, err := sdktest.ParseMessage(two)
	if err != nil {
		t.Fatal(err)
	}
	var own arcSet
	for i := range m.Headers {
		h := &m.Headers[i]
		if !strings.HasPrefix(h.Value, "i=2;") {
			continue
		}
		switch h.Name {
		case fieldAAR:
			own.aar = h
		case fieldAMS:
			own.ams = h
		case fieldAS:
			own.as, own.asTags = h, parseTags(h.Value)
		}
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{JSON: []byte(`{"mode": "verify"}`)}); err != nil {
		t.Fatal(err)
	}
	c := &arcCheck{p: p, ctx: context.Background(), m: m, bodies: map[bool][]byte{}, keys: map[string]keyAnswer{}}
	if err := c.checkAS(arcChain{sets: []arcSet{own}}, 1); err != nil {
		t.Errorf("the cv=fail seal over its own set: %v", err)
	}
}

// TestARCSealFoldsLongResults: the AAR copies the results of the stages
// before it; a reason of some 1,300 characters (a milter's, a plugin's)
// made one line of it past 998 characters. It is cut to 200 and folded.
func TestARCSealFoldsLongResults(t *testing.T) {
	d, dir := arcDNS(t)
	h := sealer(t, d, dir, "forwarder.example", ModeSign)
	txn := outside()
	long := strings.Repeat("the policy service said something rather long ", 30)
	txn.AuthResults = append(txn.AuthResults, sdk.AuthResult{Method: "x-policy", Result: "pass", Reason: long,
		Props: map[string]string{"policy.a": strings.Repeat("a", 60), "policy.b": strings.Repeat("b", 60)}})
	msg := []byte(plainMessage)
	v := h.Data(txn, msg)
	for name, lines := range insertedLines(v) {
		for _, l := range lines {
			if len(l) > 78 {
				t.Errorf("%s: a line of %d characters: %.60q...", name, len(l), l)
			}
		}
	}
	sealed := sdktest.Apply(t, msg, v)
	aar := field(t, sealed, fieldAAR)
	if !strings.Contains(aar, "policy.b=bbbb") || !strings.Contains(aar, "...\"") {
		t.Errorf("AAR %q", aar)
	}
	wantARC(t, verifier(t), sealed, cvPass)
}

// TestFoldLinesNoBlankLine: the sealer's folding of an AAR whose quoted
// reason holds a run of spaces leaves no line of only white space (RFC
// 5322 §3.2.2 has such a line only as obsolete syntax), splits no
// quoted-pair, and unfolds back to the value it was given.
func TestFoldLinesNoBlankLine(t *testing.T) {
	v := "i=1; mx.example;\r\n\tx-milter=fail reason=\"why" + strings.Repeat(" ", 300) + `a\\ b\" c` + strings.Repeat(" x", 60) + "\""
	got := foldLines(v, len(fieldAAR)+2)
	for i, l := range strings.Split(got, "\r\n") {
		if strings.TrimLeft(l, " \t") == "" {
			t.Errorf("line %d is only white space", i)
		}
		if strings.HasSuffix(l, `\`) {
			t.Errorf("line %d ends inside a quoted-pair: %q", i, l)
		}
	}
	if strings.ReplaceAll(got, "\r\n", "") != strings.ReplaceAll(v, "\r\n", "") {
		t.Errorf("folding changed the value: %q", got)
	}
}
