package dkim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/mailhdr"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestVerifyRefusesCostlyHeaderList sends a signature whose h= names
// 24,000 fields over a header of 12,000 empty ones (96 KB, under the
// default max_header_size) between two good signatures. go-msgauth would
// scan the header once per name — some 3×10^8 field parses, seconds of a
// core, past the stage timeout — before finding the signature bad. The
// costly signature must get dkim=policy without being computed, and the
// good ones around it must still pass, each result on its own signature.
func TestVerifyRefusesCostlyHeaderList(t *testing.T) {
	signer := sdktest.New(t, &Plugin{}, signSetup(t, ""))
	v := signer.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(plainMessage))
	if len(v.Edits) != 2 {
		t.Fatalf("%d edits, want two signatures", len(v.Edits))
	}
	signed := sdktest.Apply(t, []byte(plainMessage), v)
	first, ok := mailhdr.Field(signed)
	if !ok {
		t.Fatalf("signed message does not begin with a field:\n%s", signed)
	}
	// The hostile signature claims a real key and the right body hash,
	// so that go-msgauth would go as far as hashing the header fields.
	bh := parseTags(v.Edits[0].(sdk.InsertHeader).Value)["bh"]
	hostile := "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=r1; h=" +
		strings.Repeat("x:", 24000) + "from; bh=" + bh + "; b=AAAA\r\n" + strings.Repeat("x:\r\n", 12000)
	msg := append(append(append([]byte(nil), signed[:first.End]...), hostile...), signed[first.End:]...)

	rs := results(t, verifier(t).Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), msg))
	if len(rs) != 3 {
		t.Fatalf("results %+v, want three", rs)
	}
	if rs[1].Result != ResultPolicy || !strings.Contains(rs[1].Reason, "too costly") || rs[1].Props["header.s"] != "r1" {
		t.Errorf("hostile signature: %s (%s), want policy: too costly", rs[1].Result, rs[1].Reason)
	}
	for _, i := range []int{0, 2} {
		if rs[i].Result != ResultPass {
			t.Errorf("good signature %d (s=%s): %s %s, want pass", i, rs[i].Props["header.s"], rs[i].Result, rs[i].Reason)
		}
	}
	if !bytes.Contains(msg, []byte("s=e1")) || rs[0].Props["header.s"] == rs[2].Props["header.s"] {
		t.Errorf("results name selectors %s and %s, want r1 and e1", rs[0].Props["header.s"], rs[2].Props["header.s"])
	}
}

// TestSignBoundsRepeatedFields signs a message with 16,000 empty Cc
// fields (80 KB). Listing every occurrence in h= made go-msgauth's signer
// scan the header 16,001 times — seconds of a core, past the stage
// timeout, and a 48 KB DKIM-Signature. h= must name only the last
// maxSignedOccurrences of them, and the signature must verify.
func TestSignBoundsRepeatedFields(t *testing.T) {
	signer := sdktest.New(t, &Plugin{}, signSetup(t, ""))
	msg := strings.Replace(plainMessage, "X-Mailer: test\n", "X-Mailer: test\n"+strings.Repeat("Cc:\n", 16000), 1)
	v := signer.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(msg))
	if v.Action != sdk.ActionContinue || len(v.Edits) != 2 {
		t.Fatalf("verdict %v with %d edits (%s), want two signatures", v.Action, len(v.Edits), v.Reason)
	}
	for _, e := range v.Edits {
		h := strings.Split(strings.ToLower(parseTags(e.(sdk.InsertHeader).Value)["h"]), ":")
		cc := 0
		for _, name := range h {
			if name == "cc" {
				cc++
			}
		}
		if cc != maxSignedOccurrences {
			t.Errorf("h= names cc %d times, want %d", cc, maxSignedOccurrences)
		}
	}
	signed := sdktest.Apply(t, []byte(msg), v)
	for _, r := range results(t, verifier(t).Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), signed)) {
		if r.Result != ResultPass {
			t.Errorf("%s: %s %s, want pass", r.Props["header.s"], r.Result, r.Reason)
		}
	}
}
