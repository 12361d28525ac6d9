package config

import (
	"fmt"
	"time"
)

// defaultGreetBanner follows the host name on greet_pause's first line,
// as postscreen's default banner is "$myhostname ESMTP".
const defaultGreetBanner = "ESMTP"

// maxReplyLine is the longest reply line, its code and CRLF included
// (RFC 5321 §4.5.3.1.5).
const maxReplyLine = 512

// GreetBanner is what greet_pause writes after the host name on the
// first line of a multi-line greeting, "220-HOSTNAME TEXT", before it
// waits; "": nothing, the pause is silent. A listener that does not
// pause writes none whatever it says.
func (l Listener) GreetBanner() string {
	switch v := l.GreetPauseBanner.(type) {
	case nil:
		return defaultGreetBanner
	case bool:
		if v {
			return defaultGreetBanner
		}
	case string:
		return v
	}
	return ""
}

// checkGreetBanner refuses a greet_pause_banner that is neither true,
// false nor a string, and a text that is not RFC 5321 §4.2's textstring
// (tabs and printable ASCII: a CR or LF would end the line and write one
// of the client's choosing) or makes the line longer than a reply line
// may be.
func checkGreetBanner(v any, hostname string) error {
	s, ok := v.(string)
	if !ok {
		switch v.(type) {
		case nil, bool:
			return nil
		}
		return fmt.Errorf("greet_pause_banner: want true, false or a string (the text after the host name), not %s", tomlKind(v))
	}
	for _, r := range s {
		if r != '\t' && (r < ' ' || r > '~') {
			return fmt.Errorf("greet_pause_banner = %q: want printable ASCII (RFC 5321 §4.2), not %q", s, r)
		}
	}
	if n := len("220-") + len(hostname) + len(" ") + len(s) + len("\r\n"); n > maxReplyLine {
		return fmt.Errorf("greet_pause_banner: the line \"220-%s …\" would be %d bytes, more than the %d of a reply line (RFC 5321 §4.5.3.1.5)", hostname, n, maxReplyLine)
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
