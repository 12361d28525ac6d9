package config

import (
	"fmt"
	"time"
)

// maxReplyLine is the longest reply line, its code and CRLF included
// (RFC 5321 §4.5.3.1.5).
const maxReplyLine = 512

// GreetBanner is what greet_pause writes after the host name on the
// first line of a multi-line greeting, "220-HOSTNAME TEXT", before it
// waits, and whether it writes one: not when the pause is silent. Left
// out or true, the text is the greeting's own (Greeting), as
// postscreen_greet_banner's default is $smtpd_banner, so that both
// lines of the greeting say the same. A listener that does not pause
// writes none whatever it says.
func (l Listener) GreetBanner() (text string, ok bool) {
	switch v := l.GreetPauseBanner.(type) {
	case nil:
		return l.Greeting(), true
	case bool:
		if v {
			return l.Greeting(), true
		}
	case string:
		return v, v != ""
	}
	return "", false
}

// checkGreetBanner refuses a greet_pause_banner that is neither true,
// false nor a string, and a text checkBannerText refuses.
func checkGreetBanner(v any, hostname string) error {
	s, ok := v.(string)
	if !ok {
		switch v.(type) {
		case nil, bool:
			return nil
		}
		return fmt.Errorf("greet_pause_banner: want true, false or a string (the text after the host name), not %s", tomlKind(v))
	}
	return checkBannerText("greet_pause_banner", "220-", s, hostname)
}

// checkBannerText refuses a greeting's text after the host name (key's
// value) that is not RFC 5321 §4.2's textstring (tabs and printable
// ASCII: a CR or LF would end the line and write one of the client's
// choosing) or makes the line, "220 HOSTNAME TEXT" (lead "220 " or
// "220-"), longer than a reply line may be.
func checkBannerText(key, lead, s, hostname string) error {
	for _, r := range s {
		if r != '\t' && (r < ' ' || r > '~') {
			return fmt.Errorf("%s = %q: want printable ASCII (RFC 5321 §4.2), not %q", key, s, r)
		}
	}
	if n := len(lead) + len(hostname) + len(" ") + len(s) + len("\r\n"); n > maxReplyLine {
		return fmt.Errorf("%s: the line \"%s%s …\" would be %d bytes, more than the %d of a reply line (RFC 5321 §4.5.3.1.5)", key, lead, hostname, n, maxReplyLine)
	}
	return nil
}

// tomlKind names the TOML kind of a value the decoder put in an any.
func tomlKind(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return "a date or time"
}
