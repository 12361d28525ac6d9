package smtpd

import (
	"strings"
	"testing"
)

func TestParseMailbox(t *testing.T) {
	for _, tc := range []struct {
		in, wire string
		utf8     bool
		err      error
	}{
		{in: "a@example.org", wire: "a@example.org"},
		{in: "first.last+tag@sub.example.org", wire: "first.last+tag@sub.example.org"},
		{in: "a b@example.org", wire: `"a b"@example.org`},
		{in: `q"uo\te@example.org`, wire: `"q\"uo\\te"@example.org`},
		{in: ".dot@example.org", wire: `".dot"@example.org`},
		{in: "a@[192.0.2.1]", wire: "a@[192.0.2.1]"},
		{in: "a@[IPv6:2001:db8::1]", wire: "a@[IPv6:2001:db8::1]"},
		{in: "j\u00f6rg@b\u00fccher.example", utf8: true, wire: "j\u00f6rg@b\u00fccher.example"},
		{in: "j\u00f6rg@example.org", err: errNeedUTF8},
		{in: "a@b@example.org", err: errAddressShape},
		{in: "@example.org", err: errAddressShape},
		{in: "a@", err: errAddressShape},
		{in: "a\x01@example.org", err: errLocalPart},
		{in: string(make([]byte, 65)) + "@example.org", err: errLocalPart},
		// RFC 5321 §4.5.3.1.1-3, counted on the wire form.
		{in: strings.Repeat("l", 64) + "@example.org", wire: strings.Repeat("l", 64) + "@example.org"},
		{in: strings.Repeat("l", 65) + "@example.org", err: errLocalTooLong},
		{in: strings.Repeat("l", 61) + " @example.org", wire: `"` + strings.Repeat("l", 61) + ` "@example.org`},
		{in: strings.Repeat("l", 62) + " @example.org", err: errLocalTooLong},
		{in: "a@" + strings.Repeat("a.", 127) + "oo", err: errDomainTooLong},
		// <a@DOMAIN> of exactly 256 octets, and one more.
		{in: "a@" + strings.Repeat("a.", 125) + "or", wire: "a@" + strings.Repeat("a.", 125) + "or"},
		{in: "a@" + strings.Repeat("a.", 125) + "org", err: errPathTooLong},
		{in: strings.Repeat("l", 64) + "@" + strings.Repeat("abcdefghi.", 18) + "example.org", err: errPathTooLong},
		{in: "a@example..org", err: errDomain},
		{in: "a@-example.org", err: errDomain},
		{in: "a@example.org-", err: errDomain},
		{in: "a@[192.0.2.1", err: errDomain},
		{in: "a@[IPv6:192.0.2.1]", err: errDomain},
		{in: "a@[2001:db8::1]", err: errDomain},
	} {
		mb, err := parseMailbox(tc.in, tc.utf8)
		if err != tc.err {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && mb.String() != tc.wire {
			t.Errorf("%q: wire form %q, want %q", tc.in, mb.String(), tc.wire)
		}
	}
}
