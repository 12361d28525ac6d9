package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// signWithLength makes an ed25519-sha256 relaxed/relaxed signature with
// l= over the first l octets of body, which the caller gives already
// canonical (RFC 6376 §3.4.4, §3.5), a signer go-msgauth has not: it
// cannot write l=.
func signWithLength(t *testing.T, priv ed25519.PrivateKey, fields []string, body string, l int) string {
	t.Helper()
	relaxed := func(f string) string { // RFC 6376 §3.4.2
		name, value, _ := strings.Cut(f, ":")
		return strings.ToLower(strings.TrimSpace(name)) + ":" + strings.Join(strings.Fields(value), " ")
	}
	bh := sha256.Sum256([]byte(body[:l]))
	sig := "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=len; h=from:subject; l=" +
		strconv.Itoa(l) + "; bh=" + base64.StdEncoding.EncodeToString(bh[:]) + "; b="
	hash := sha256.New()
	for _, f := range fields {
		hash.Write([]byte(relaxed(f) + "\r\n"))
	}
	hash.Write([]byte(relaxed(sig)))
	b, err := priv.Sign(rand.Reader, hash.Sum(nil), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return sig + base64.StdEncoding.EncodeToString(b) + "\r\n" + strings.Join(fields, "\r\n") + "\r\n\r\n" + body
}

// TestVerifyBodyLength: a signature with l= signs only the start of the
// body, so content appended later (a forged offer under a good signature)
// would pass (RFC 6376 §8.2). The plugin accepts no such signature, with
// or without anything appended: dkim=policy (RFC 8601 §2.7.1, "not
// acceptable to the ADMD"), never pass, and no fail either, since the
// signed part may be intact.
func TestVerifyBodyLength(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := TXTValue(priv)
	if err != nil {
		t.Fatal(err)
	}
	d := testlib.NewDNS(t, txtRR("len._domainkey.example.org", key))
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	h := verifier(t)
	fields := []string{"From: alice@example.org", "Subject: offer"}
	body := "Dear Bob,\r\nhere is the offer.\r\n"
	for _, tc := range []struct{ name, appended string }{
		{"whole body", ""},
		{"content appended", "PS: pay to account 1234 instead.\r\n"},
	} {
		msg := signWithLength(t, priv, fields, body, len(body)) + tc.appended
		rs := results(t, h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(msg)))
		if len(rs) != 1 || rs[0].Result != ResultPolicy || rs[0].Props["header.d"] != "example.org" || rs[0].Props["header.s"] != "len" {
			t.Errorf("%s: %+v, want policy for d=example.org s=len", tc.name, rs)
		}
	}
}
