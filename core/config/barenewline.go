package config

import (
	"fmt"
	"strconv"
)

// BareNewline is the bare_newline key, Postfix 3.9's
// smtpd_forbid_bare_newline: what becomes of a message whose DATA or
// BDAT content has a line ended by a bare LF (RFC 5321 §2.3.8 allows
// only CRLF). The top-level key is every listener's, a listener's own
// replaces it, as master.cf's -o does main.cf's. Either way the data
// ends only at <CRLF>.<CRLF>, and a bare CR is refused.
type BareNewline string

// bare_newline values; left out, a listener's is BareNewlineNormalize.
const (
	// BareNewlineNormalize stores each bare LF as CRLF (Postfix 3.9's
	// default): scripts, printers and old PHP code write their lines so.
	BareNewlineNormalize BareNewline = "normalize"
	// BareNewlineReject refuses the message with 550 5.5.2, but from a
	// client in relay_networks, whose bare LFs are normalized, as
	// Postfix's smtpd_forbid_bare_newline_exclusions = $mynetworks
	// spares them.
	BareNewlineReject BareNewline = "reject"
)

// RejectsBareNewline reports whether the listener refuses a message with
// a bare LF (from a client outside relay_networks): bare_newline =
// "reject". Left out, it normalizes.
func (l Listener) RejectsBareNewline() bool { return l.BareNewline == BareNewlineReject }

// validateBareNewline checks the top-level bare_newline and each
// listener's, and gives a listener without its own the top-level one, so
// that what a listener runs is in its own settings (a reload hands the
// smtpd server the listeners).
func (c *Config) validateBareNewline(f finder) error {
	if err := c.checkBareNewline(c.BareNewline, "bare_newline"); err != "" {
		return f.err("", -1, "bare_newline", err)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if err := c.checkBareNewline(l.BareNewline, "listener", strconv.Itoa(i), "bare_newline"); err != "" {
			return f.err("listener", i, "bare_newline", err)
		}
		if l.BareNewline == "" {
			l.BareNewline = c.BareNewline
		}
	}
	return nil
}

// checkBareNewline says what is wrong with v, the value at path: a value
// other than the two, an explicit "" included (left out is how to say
// the default).
func (c *Config) checkBareNewline(v BareNewline, path ...string) string {
	switch v {
	case BareNewlineNormalize, BareNewlineReject:
		return ""
	case "":
		if !c.written(path...) {
			return ""
		}
	}
	return fmt.Sprintf("bare_newline = %q: want %q or %q", string(v), BareNewlineNormalize, BareNewlineReject)
}
