package dkim

import (
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
