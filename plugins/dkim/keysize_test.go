package dkim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// rawRSA signs PKCS #1 v1.5 SHA-256 (RFC 8017 §8.2.1) with plain modular
// arithmetic: crypto/rsa refuses keys under 1024 bits, and a hostile
// signer does not.
type rawRSA struct {
	pub *rsa.PublicKey
	d   *big.Int
}

func (k rawRSA) Public() crypto.PublicKey { return k.pub }

func (k rawRSA) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	// The DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1).
	t := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, digest...)
	n := (k.pub.N.BitLen() + 7) / 8
	em := make([]byte, n) // 0x00 0x01 0xff… 0x00 T
	em[1] = 1
	for i := 2; i < n-len(t)-1; i++ {
		em[i] = 0xff
	}
	copy(em[n-len(t):], t)
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), k.d, k.pub.N)
	return s.FillBytes(make([]byte, n)), nil
}

// shortRSAKey makes an RSA key whose modulus has exactly bits bits.
func shortRSAKey(t *testing.T, bits int) rawRSA {
	t.Helper()
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		q, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		n := new(big.Int).Mul(p, q)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if p.Cmp(q) == 0 || n.BitLen() != bits || d == nil {
			continue
		}
		return rawRSA{pub: &rsa.PublicKey{N: n, E: int(e.Int64())}, d: d}
	}
}

// TestVerifyShortRSAKey: RFC 8301 §3.2, verifiers MUST NOT take a
// signature made with an RSA key of under 1024 bits as valid; it is the
// key's fault, permerror. go-msgauth counted a 1020-bit modulus as 128
// octets, 1024 bits, and left the refusal to crypto/rsa, which made it a
// plain fail (or a pass under GODEBUG=rsa1024min=0). A 1024-bit key still
// passes.
func TestVerifyShortRSAKey(t *testing.T) {
	short := shortRSAKey(t, 1020)
	spki, err := x509.MarshalPKIXPublicKey(short.pub)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	okKey, err := TXTValue(ok)
	if err != nil {
		t.Fatal(err)
	}
	d := testlib.NewDNS(t,
		txtRR("short._domainkey.example.org", "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(spki)),
		// An RSAPublicKey rather than a SubjectPublicKeyInfo (RFC 6376
		// Erratum 3017), which go-msgauth accepts as well.
		txtRR("pkcs1._domainkey.example.org", "v=DKIM1; p="+base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(short.pub))),
		txtRR("ok._domainkey.example.org", okKey),
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	const why = "RSA key of 1020 bits: at least 1024 needed (RFC 8301 §3.2)"
	checkKeySizes(t, []keySizeCase{
		{"short", short, ResultPermError, why},
		{"pkcs1", short, ResultPermError, why},
		{"ok", ok, ResultPass, ""},
	})
}

// keySizeCase is a message signed for example.org with signer under
// selector, and the result (and, for a permerror, the reason) the
// verifier must give it.
type keySizeCase struct {
	selector string
	signer   crypto.Signer
	want     string
	reason   string
}

// checkKeySizes signs plainMessage for each case and verifies it with
// a verify stage that asks the DNS server the environment names.
func checkKeySizes(t *testing.T, cases []keySizeCase) {
	t.Helper()
	h := verifier(t)
	for _, tc := range cases {
		var signed bytes.Buffer
		err := msgdkim.Sign(&signed, bytes.NewReader([]byte(plainMessage)), &msgdkim.SignOptions{
			Domain: "example.org", Selector: tc.selector, Signer: tc.signer,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed, BodyCanonicalization: msgdkim.CanonicalizationRelaxed,
		})
		if err != nil {
			t.Fatal(err)
		}
		rs := results(t, h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), signed.Bytes()))
		if len(rs) != 1 || rs[0].Result != tc.want {
			t.Errorf("s=%s: %+v, want %s", tc.selector, rs, tc.want)
			continue
		}
		if tc.reason != "" && rs[0].Reason != tc.reason {
			t.Errorf("s=%s: reason %q, want %q", tc.selector, rs[0].Reason, tc.reason)
		}
	}
}

// TestVerifyLargeRSAKey: a DKIM signature made with an RSA key of more
// than 4096 bits is a permerror naming the size, found without verifying
// it (RFC 8301 §3.2 asks verifiers for 1024 to 4096 bits): the sender
// chooses the key, and eight signatures with 16384-bit keys cost some
// 50 ms of a core per message. A 4096-bit key still passes.
func TestVerifyLargeRSAKey(t *testing.T) {
	big, err := LoadKey(bigKey)
	if err != nil {
		t.Fatal(err)
	}
	bigRec, err := TXTValue(big)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	okRec, err := TXTValue(ok)
	if err != nil {
		t.Fatal(err)
	}
	d := testlib.NewDNS(t,
		txtRR("big._domainkey.example.org", bigRec),
		txtRR("ok._domainkey.example.org", okRec),
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	checkKeySizes(t, []keySizeCase{
		{"big", big, ResultPermError, "RSA key of 4104 bits: keys of more than 4096 are not verified (RFC 8301 §3.2)"},
		{"ok", ok, ResultPass, ""},
	})
}
