package smtpd

import (
	"strings"
	"testing"
)

// The user name in "(Authenticated sender: USER)" is ctext (RFC 5322
// §3.2.2): balanced parentheses stay, as nested comments; an unmatched
// one, a backslash and a control character become "?"; UTF-8 stays only
// with SMTPUTF8 (RFC 6532 §3.2), a C1 control or a byte that is not
// UTF-8 never; the name is cut at 255 octets, between two characters.
func TestAuthSenderComment(t *testing.T) {
	e := strings.Repeat("é", 128) // 256 octets
	for _, tc := range []struct {
		user     string
		smtputf8 bool
		want     string
	}{
		{"alice@example.org", false, "alice@example.org"},
		{"a(b)c", false, "a(b)c"},
		{"a((b)", false, "a?(b)"},
		{")(", false, "??"},
		{"a(b(c)d)e)", false, "a(b(c)d)e?"},
		{"back\\slash", false, "back?slash"},
		{"tab\there\r\nnul\x00del\x7f", false, "tab?here??nul?del?"},
		{"josé", false, "jos?"},
		{"josé", true, "josé"},
		{"c1\u0085\xff\xc3", true, "c1???"},
		{"\ufffd", true, "\ufffd"},
		{e, true, strings.Repeat("é", 127)},
		{strings.Repeat("(", 300), false, strings.Repeat("?", 255)},
	} {
		got := authSenderComment(tc.user, tc.smtputf8)
		if want := "(Authenticated sender: " + tc.want + ")"; got != want {
			t.Errorf("%q, SMTPUTF8 %v:\ngot  %q\nwant %q", tc.user, tc.smtputf8, got, want)
		}
	}
}
