package dkim

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// edSealer is a sign stage sealing for domain with a fresh Ed25519 key,
// selector arc, published in d.
func edSealer(t *testing.T, d *testlib.DNS, dir, domain string) *sdktest.Harness {
	t.Helper()
	path, record, err := Keygen(domain, "arc", KeyEd25519, dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, record)
	return sealerWithKey(t, domain, path)
}

// TestARCEd25519Seal: a sealer whose key_file holds an Ed25519 key seals
// ed25519-sha256 (RFC 8463 §3, taken by RFC 8617 §4.1.2 and §4.1.3 from
// DKIM), and the verifier takes it, alone and after an rsa-sha256 set;
// ARC was RSA only, refusing the key and failing such a set.
func TestARCEd25519Seal(t *testing.T) {
	d, dir := arcDNS(t)
	rsaFirst := sealer(t, d, dir, "list.example", ModeSign)
	ed := edSealer(t, d, dir, "forwarder.example")
	h := verifier(t)

	one, v := seal(t, ed, []byte(plainMessage))
	if !strings.Contains(v.Reason, "sealed i=1 cv=none") {
		t.Fatalf("reason %q", v.Reason)
	}
	for _, name := range []string{fieldAMS, fieldAS} {
		f := field(t, one, name)
		if !strings.Contains(f, "a=ed25519-sha256;") {
			t.Errorf("%s %q: want a=ed25519-sha256", name, f)
		}
		b, err := base64.StdEncoding.DecodeString(parseTags(f).get("b"))
		if err != nil || len(b) != 64 {
			t.Errorf("%s b= of %d octets (%v): an Ed25519 signature has 64", name, len(b), err)
		}
	}
	wantARC(t, h, one, cvPass)

	mixed, v := seal(t, ed, func() []byte { m, _ := seal(t, rsaFirst, []byte(plainMessage)); return m }())
	if !strings.Contains(v.Reason, "sealed i=2 cv=pass") {
		t.Fatalf("reason %q", v.Reason)
	}
	if !strings.Contains(string(mixed), "ARC-Seal: i=1; cv=none; a=rsa-sha256;") {
		t.Fatalf("i=1 is not rsa-sha256:\n%s", mixed)
	}
	wantARC(t, h, mixed, cvPass)

	for _, tc := range []struct{ name, from, to, reason string }{
		{"body", "Hello,  Bob.", "Hello, Mallory.", "body hash"},
		{"signed header", "Subject: quarterly report", "Subject: wire money", "ARC-Message-Signature i=2: signature did not verify"},
		{"sealed AAR", "arc=pass", "arc=none", "ARC-Seal i=2: signature did not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Replace(mixed, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(msg, mixed) {
				t.Fatalf("no %q", tc.from)
			}
			if r := wantARC(t, h, msg, cvFail); !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
		})
	}
}

// TestARCEd25519KeyRecord: a= must match the key record's k= (RFC 6376
// §3.6.1), both ways; the record's h= binds an Ed25519 key as an RSA one;
// p= is the bare 32-octet key (RFC 8463 §4.2).
func TestARCEd25519KeyRecord(t *testing.T) {
	for _, tc := range []struct{ name, sealKind, recordKind, edit, reason string }{
		{"ed25519 seal, k=rsa record", KeyEd25519, KeyRSA, "", "a=ed25519-sha256 with the k=rsa key"},
		{"rsa seal, k=ed25519 record", KeyRSA, KeyEd25519, "", "a=rsa-sha256 with the k=ed25519 key"},
		{"h=sha1", KeyEd25519, KeyEd25519, "h=sha1; ", "h=sha1, not sha256"},
		{"p= of 31 octets", KeyEd25519, KeyEd25519, "short", "not an Ed25519 key"},
		{"h=sha256", KeyEd25519, KeyEd25519, "h=sha256; ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, dir := arcDNS(t)
			path, record, err := Keygen("forwarder.example", "arc", tc.sealKind, dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.recordKind != tc.sealKind {
				if _, record, err = Keygen("forwarder.example", "arc", tc.recordKind, t.TempDir()); err != nil {
					t.Fatal(err)
				}
			}
			switch tc.edit {
			case "":
			case "short":
				p := regexp.MustCompile(`p=([A-Za-z0-9+/=]+)`).FindStringSubmatch(record)[1]
				raw, _ := base64.StdEncoding.DecodeString(p)
				record = strings.Replace(record, p, base64.StdEncoding.EncodeToString(raw[:31]), 1)
			default:
				record = strings.Replace(record, `"v=DKIM1; `, `"v=DKIM1; `+tc.edit, 1)
			}
			d.Add(t, record)
			sealed, _ := seal(t, sealerWithKey(t, "forwarder.example", path), []byte(plainMessage))
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

// TestARCEd25519Dkimpy: an ed25519-sha256 ARC Set that dkimpy made, with
// the RFC 8463 Appendix A key, t= fixed (Ed25519 signatures are
// deterministic): tests/interop/milters/arc.py seal-ed25519 over a copy of
// RFC 8463's message. It checks that both sides sign the SHA-256 hash of
// the data, not the data, which a seal checked by its own verifier alone
// would not show.
func TestARCEd25519Dkimpy(t *testing.T) {
	rfcDNS(t)
	h := verifier(t)
	msg := readTestdata(t, "arc-ed25519-dkimpy.eml")
	if r := wantARC(t, h, msg, cvPass); r.Props["header.oldest-pass"] != "0" {
		t.Errorf("props %v", r.Props)
	}
	for _, tc := range []struct{ from, to, reason string }{
		{"We lost the game.", "We won the game.", "body hash"},
		{"Subject: Is dinner ready?", "Subject: Is lunch ready?", "ARC-Message-Signature i=1: signature did not verify"},
		{"; spf=pass smtp", "; spf=fail smtp", "ARC-Seal i=1: signature did not verify"},
	} {
		tampered := bytes.Replace(msg, []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(tampered, msg) {
			t.Fatalf("no %q", tc.from)
		}
		if r := wantARC(t, h, tampered, cvFail); !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%q: reason %q, want %q", tc.to, r.Reason, tc.reason)
		}
	}
}
