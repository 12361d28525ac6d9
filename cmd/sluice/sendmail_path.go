package main

import "strings"

// smtpPath writes addr, local-part@domain as net/mail hands it over (a
// quoted local part unquoted), as MAIL and RCPT take it: a local part
// that is not a dot-string is quoted again (RFC 5321 §4.1.2), or
// `"a b"@example.org` in a To header went out as <a b@example.org>,
// which the daemon refuses as a syntax error.
func smtpPath(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local := addr[:at]
	quoted := len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' // -f's, as given
	if quoted || isDotString(local) {
		return addr
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(local) + `"` + addr[at:]
}

// isDotString reports whether s is atoms joined by single dots (RFC 5321
// §4.1.2 Dot-string); non-ASCII is atext under SMTPUTF8 (RFC 6531 §3.3).
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		atext := c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			'0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
		if !atext {
			return false
		}
	}
	return true
}
