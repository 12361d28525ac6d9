package delivery

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
)

// FuzzDSNParams checks the RFC 3461 parameters Sluice forwards: xtext (§4)
// round-trips and encodes only what xtext allows, decoding never panics,
// and NOTIFY (§4.1), ORCPT (§4.2) and ENVID (§4.4) come out in a form
// go-smtp can send.
func FuzzDSNParams(f *testing.F) {
	for _, s := range [][3]string{
		{"QQ314159", "rfc822;a@example.org", "SUCCESS,FAILURE"},
		{"a+2Bb+3Dc", "rfc822;user+2Btag@example.org", "NEVER"},
		{"", "utf-8;us\u00e9r@example.org", "NEVER,DELAY"},
		{"+", "a@example.org", "delay, Failure,failure"},
		{"+4", "x-unknown;foo", ""},
		{"+zz", ";", ",,,"},
		{"\x00\xff +=", "RFC822;" + strings.Repeat("a", 100), "SUCCESS,DELAY,FAILURE,NEVER"},
		{"+e9+41", "utf-8;\xff", "NEVER,NEVER"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, s, orcpt, notify string) {
		checkXtext(t, s)
		checkXtext(t, orcpt)

		if id := envID(s); id != "" && (id != s || !printableASCII(id)) {
			t.Errorf("envID(%q) = %q", s, id)
		}

		r := &envelope.Recipient{Addr: "rcpt@example.org", ORcpt: orcpt}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		o := rcptOptions(r)
		seen := map[smtp.DSNNotify]bool{}
		for _, n := range o.Notify {
			switch n {
			case smtp.DSNNotifyNever, smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure, smtp.DSNNotifySuccess:
			default:
				t.Errorf("NOTIFY %q from %q", n, notify)
			}
			if seen[n] {
				t.Errorf("NOTIFY %q twice from %q", n, notify)
			}
			seen[n] = true
		}
		if seen[smtp.DSNNotifyNever] && len(o.Notify) > 1 {
			t.Errorf("NOTIFY=NEVER with others from %q: %v", notify, o.Notify)
		}
		switch o.OriginalRecipientType {
		case "":
			if o.OriginalRecipient != "" {
				t.Errorf("ORCPT %q without a type", o.OriginalRecipient)
			}
		case smtp.DSNAddressTypeRFC822:
			if !printableASCII(o.OriginalRecipient) || o.OriginalRecipient == "" {
				t.Errorf("ORCPT rfc822;%q from %q", o.OriginalRecipient, orcpt)
			}
		case smtp.DSNAddressTypeUTF8:
			if o.OriginalRecipient == "" {
				t.Errorf("empty ORCPT utf-8 from %q", orcpt)
			}
		default:
			t.Errorf("ORCPT type %q from %q", o.OriginalRecipientType, orcpt)
		}
		if o.OriginalRecipient != "" && !strings.HasSuffix(orcpt, o.OriginalRecipient) {
			t.Errorf("ORCPT %q is not the address of %q", o.OriginalRecipient, orcpt)
		}
	})
}

// checkXtext tests the xtext properties on s, as a value and as xtext.
func checkXtext(t *testing.T, s string) {
	t.Helper()
	enc := encodeXtext(s)
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case c == '+':
			if i+2 >= len(enc) || !strings.ContainsRune("0123456789ABCDEF", rune(enc[i+1])) ||
				!strings.ContainsRune("0123456789ABCDEF", rune(enc[i+2])) {
				t.Fatalf("encodeXtext(%q) = %q: bad hexchar at %d", s, enc, i)
			}
			i += 2
		case !isXchar(c):
			t.Fatalf("encodeXtext(%q) = %q: octet %#x", s, enc, c)
		}
	}
	if dec, err := decodeXtext(enc); err != nil || dec != s {
		t.Fatalf("decodeXtext(encodeXtext(%q)) = %q, %v", s, dec, err)
	}
	// s read as xtext: decoding may fail, but what it yields must survive
	// another round and be no longer than s.
	if dec, err := decodeXtext(s); err == nil {
		if len(dec) > len(s) {
			t.Fatalf("decodeXtext(%q) = %q, longer", s, dec)
		}
		if again, err := decodeXtext(encodeXtext(dec)); err != nil || again != dec {
			t.Fatalf("round trip of decodeXtext(%q) = %q: %q, %v", s, dec, again, err)
		}
		if strings.IndexFunc(s, func(r rune) bool { return r == '+' || r < '!' || r > '~' }) < 0 && dec != s {
			t.Fatalf("decodeXtext(%q) = %q, want it unchanged", s, dec)
		}
	}
}

func TestXtext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a+b=c d\u00e9", "a+2Bb+3Dc+20d+C3+A9"},
		{"", ""},
		{"~!", "~!"},
	} {
		if got := encodeXtext(tc.in); got != tc.want {
			t.Errorf("encodeXtext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"+", "+4", "+4G", "a b", "a=b", "\x7f"} {
		if got, err := decodeXtext(bad); err == nil {
			t.Errorf("decodeXtext(%q) = %q, want an error", bad, got)
		}
	}
	if got, err := decodeXtext("+2b+2B"); err != nil || got != "++" {
		t.Errorf("decodeXtext(+2b+2B) = %q, %v", got, err)
	}
}
