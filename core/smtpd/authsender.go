package smtpd

import "unicode/utf8"

// maxAuthSender bounds the user name a Received comment shows, in octets:
// RFC 4616 §2 has a server take authentication identities of up to 255
// octets, and a longer one (XCLIENT LOGIN and an auth hook are bounded by
// the command line alone) must not push the field's line past RFC 5322
// §2.1.1's 998.
const maxAuthSender = 255

// authSenderComment is Postfix's "(Authenticated sender: USER)" with the
// user name made fit for a comment's ctext (RFC 5322 §3.2.2), as Postfix's
// comment_sanitize does: a backslash (which would quote the next
// character), a control character (CR and LF would end the field and start
// a header field of the user's choosing) and a parenthesis without its
// partner become "?"; balanced pairs stay, as nested comments. A UTF-8
// character stays in a message sent with SMTPUTF8 (RFC 6532 §3.2 lets
// ctext hold it); in any other the field must stay 7-bit, so it becomes
// "?" too, as in the HELO name (heloToken), and so does a byte that is not
// UTF-8. The log's "authenticated" line keeps the name as it was.
func authSenderComment(user string, smtputf8 bool) string {
	b := make([]byte, 0, len(user))
	var open []int // where each "(" not yet closed is in b
	for i := 0; i < len(user); {
		r, n := utf8.DecodeRuneInString(user[i:])
		if len(b)+n > maxAuthSender {
			break // at a character's boundary
		}
		switch {
		case r == '(':
			open = append(open, len(b))
		case r == ')' && len(open) > 0:
			open = open[:len(open)-1]
		case r == ')', r == '\\', r < ' ', r == 0x7f,
			r >= 0x80 && (!smtputf8 || r <= 0x9f || r == utf8.RuneError && n == 1):
			// C1 controls (U+0080 to U+009F) are no more text than C0's.
			b = append(b, '?')
			i += n
			continue
		}
		b = append(b, user[i:i+n]...)
		i += n
	}
	for _, at := range open {
		b[at] = '?'
	}
	return "(Authenticated sender: " + string(b) + ")"
}
