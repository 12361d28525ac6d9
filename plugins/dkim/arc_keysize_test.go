package dkim

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// bigKey is a 4104-bit RSA key (openssl genpkey): over maxRSABits.
const bigKey = "testdata/arc-rsa4104.key"

// TestARCKeyTooLarge: an ARC key of more than 4096 bits is refused: a
// chain of 50 sets made with keys of the sender's choosing costs 100 RSA
// verifications, and a 16384-bit key some 6 ms each (RFC 8301 §3.2 asks
// verifiers for 1024 to 4096 bits). A sealer is refused such a key.
func TestARCKeyTooLarge(t *testing.T) {
	d, dir := arcDNS(t)
	path, _, err := Keygen("big.example", "arc", KeyRSA, dir)
	if err != nil {
		t.Fatal(err)
	}
	big, err := LoadKey(bigKey)
	if err != nil {
		t.Fatal(err)
	}
	record, err := TXTRecord("big.example", "arc", big)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	forger := &Plugin{}
	cfg := fmt.Sprintf(`{"mode": "sign", "keys": [], "arc": {"domain": "big.example", "selector": "arc", "key_file": %q}}`, path)
	if err := forger.Configure(context.Background(), sdk.Config{JSON: []byte(cfg)}); err != nil {
		t.Fatal(err)
	}
	forger.arc.key = big
	msg := []byte(plainMessage)
	m, err := sdktest.ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	edits, why, err := forger.seal(outside(), m, nil, arcOutcome{cv: cvNone})
	if err != nil || len(edits) != 3 {
		t.Fatalf("sealing with the big key: %v, %s", err, why)
	}
	sealed := sdktest.Apply(t, msg, sdk.Verdict{Edits: edits})
	if r := wantARC(t, verifier(t), sealed, cvFail); !strings.Contains(r.Reason, "4104 bits") {
		t.Errorf("reason %q", r.Reason)
	}

	_, err = sdktest.Start(t, &Plugin{}, `{"mode": "sign", "keys": [], "arc": {"domain": "big.example", "selector": "arc", "key_file": "`+bigKey+`"}}`)
	if err == nil || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("sealing key of 4104 bits: %v", err)
	}
}
