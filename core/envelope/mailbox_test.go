package envelope

import (
	"strings"
	"testing"
)

// MailboxError takes what smtpd takes from a client (RFC 5321 §4.1.2,
// §4.5.3.1.1) and says why it refuses the rest.
func TestMailboxError(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ addr, want string }{
		// Accepted: "" is no error.
		{"user@example.com", ""},
		{"first.last+tag@sub.example.com", ""},
		{"!#$%&'*+-/=?^_`{|}~@example.com", ""},
		{`"john doe"@example.com`, ""},
		{`"a\"b"@example.com`, ""},
		{long + "@example.com", ""},
		{`"` + long + `"@example.com`, ""}, // the quotes do not count
		{"ü@bücher.example", ""},           // RFC 6531
		{"user@[192.0.2.1]", ""},
		{"user@[IPv6:2001:db8::1]", ""},

		{"user", "local-part@domain"},
		{"a@b@example.com", "local-part@domain"},
		{"@example.com", "empty local part"},
		{`""@example.com`, "empty local part"},
		{`"a@b"@example.com`, "local-part@domain"}, // smtpd refuses a quoted "@" too
		{"user@", "bad domain"},
		{"user@mail_host.example", "bad domain"},
		{"user@-x.example", "bad domain"},
		{"user@x..example", "bad domain"},
		{"user@example.com.", "bad domain"},
		{"user@[300.1.1.1]", "bad domain"},
		{long + "a@example.com", "over 64 octets"},
		{"a..b@example.com", "empty atom"},
		{".a@example.com", "empty atom"},
		{"a,b@example.com", "outside quotes"},
		{"<a@example.com", "outside quotes"},
		{"john doe@example.com", "outside quotes"},
		{`"john"doe@example.com`, "text after its quoted string"},
		{`"john@example.com`, "unterminated quote"},
		{`"jo\` + "\x01" + `"@example.com`, "bad quoted pair"},
		{"\"a\tb\"@example.com", "local part has"},
		{"a\xff@example.com", "not UTF-8"},
	} {
		err := MailboxError(tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("MailboxError(%q) = %v, want nil", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("MailboxError(%q) = %v, want an error with %q", tc.addr, err, tc.want)
		}
	}
}
