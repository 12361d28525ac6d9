package dkim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestARCKeyFlags: a key record's h= (hash algorithms) and s= (service
// types) bind ARC keys as DKIM's (RFC 6376 §3.6.1): a key for sha1 only,
// or for a service other than email, does not validate an rsa-sha256
// seal; ARC took any record with a usable p=.
func TestARCKeyFlags(t *testing.T) {
	for _, tc := range []struct{ flags, reason string }{
		{"h=sha1; ", "h=sha1, not sha256"},
		{"s=other; ", "s=other, not for email"},
		{"h=sha1:sha256; s=email; ", ""},
		{"s=*; ", ""},
	} {
		t.Run(tc.flags, func(t *testing.T) {
			d, dir := arcDNS(t)
			path, record, err := Keygen("forwarder.example", "arc", KeyRSA, dir)
			if err != nil {
				t.Fatal(err)
			}
			d.Add(t, strings.Replace(record, `"v=DKIM1; `, `"v=DKIM1; `+tc.flags, 1))
			h := sealerWithKey(t, "forwarder.example", path)
			sealed, _ := seal(t, h, []byte(plainMessage))
			if tc.reason == "" {
				wantARC(t, verifier(t), sealed, cvPass)
				return
			}
			if r := wantARC(t, verifier(t), sealed, cvFail); !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
		})
	}
}

// sealerWithKey is a sign stage sealing for domain with the key at path,
// selector arc.
func sealerWithKey(t *testing.T, domain, path string) *sdktest.Harness {
	t.Helper()
	return sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"mode": "sign", "keys": [], "arc": {"domain": %q, "selector": "arc", "key_file": %q}}`, domain, path))
}
