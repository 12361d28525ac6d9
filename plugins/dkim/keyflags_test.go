package dkim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestKeyFlagStrictIdentity: a key record with t=s (RFC 6376 §3.6.1)
// accepts no signature whose i= domain is a subdomain of d=; go-msgauth
// does not apply key flags, the plugin does.
func TestKeyFlagStrictIdentity(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := TXTValue(priv)
	if err != nil {
		t.Fatal(err)
	}
	d := testlib.NewDNS(t,
		txtRR("strict._domainkey.sign.test", key+"; t=s"),
		txtRR("flags._domainkey.sign.test", key+"; t = y : S"),
		txtRR("loose._domainkey.sign.test", key),
		txtRR("testing._domainkey.sign.test", key+"; t=y"),
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	h := verifier(t)
	sign := func(selector, identifier string) []byte {
		t.Helper()
		msg := []byte("From: user@sub.sign.test\r\nTo: bob@example.net\r\nSubject: flags\r\n\r\nhi\r\n")
		var out bytes.Buffer
		err := msgdkim.Sign(&out, bytes.NewReader(msg), &msgdkim.SignOptions{
			Domain: "sign.test", Selector: selector, Identifier: identifier, Signer: priv,
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, tc := range []struct {
		selector, identifier, want string
	}{
		{"strict", "user@sub.sign.test", ResultPermError},
		{"flags", "user@sub.sign.test", ResultPermError},
		{"strict", "user@sign.test", ResultPass},
		{"strict", "", ResultPass}, // i= defaults to @d
		{"loose", "user@sub.sign.test", ResultPass},
		{"testing", "user@sub.sign.test", ResultPass},
	} {
		rs := results(t, h.Data(sdktest.NewTxn("user@sub.sign.test", "bob@example.net"), sign(tc.selector, tc.identifier)))
		if len(rs) != 1 || rs[0].Result != tc.want {
			t.Errorf("s=%s i=%s: %+v, want %s", tc.selector, tc.identifier, rs, tc.want)
			continue
		}
		if tc.want == ResultPermError && rs[0].Reason != "key has t=s: the i= domain must be d= (RFC 6376 §3.6.1)" {
			t.Errorf("s=%s i=%s: reason %q", tc.selector, tc.identifier, rs[0].Reason)
		}
	}
}
