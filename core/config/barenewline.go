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
	// BareNewlineReject refuses the message with 550 5.5.2
	// (bare_newline_reject_code), but from a client in
	// bare_newline_exclusions, relay_networks by default, whose bare LFs
	// are normalized, as Postfix's smtpd_forbid_bare_newline_exclusions
	// = $mynetworks spares them.
	BareNewlineReject BareNewline = "reject"
)

// defaultBareNewlineCode is Postfix's
// smtpd_forbid_bare_newline_reject_code default.
const defaultBareNewlineCode = 550

// RejectsBareNewline reports whether the listener refuses a message with
// a bare LF (from a client outside bare_newline_exclusions):
// bare_newline = "reject". Left out, it normalizes.
func (l Listener) RejectsBareNewline() bool { return l.BareNewline == BareNewlineReject }

// BareNewlineCode is the code bare_newline = "reject" refuses with:
// bare_newline_reject_code, 550 when left out. A 521 (RFC 7504 §3) ends
// the session after the reply, as Postfix's does.
func (l Listener) BareNewlineCode() int {
	if l.BareNewlineRejectCode == 0 {
		return defaultBareNewlineCode
	}
	return l.BareNewlineRejectCode
}

// validateBareNewline checks the top-level bare_newline,
// bare_newline_reject_code and bare_newline_exclusions and each
// listener's, and gives a listener without its own the top-level ones,
// so that what a listener runs is in its own settings (a reload hands
// the smtpd server the listeners).
func (c *Config) validateBareNewline(f finder) error {
	if err := c.checkBareNewline(c.BareNewline, "bare_newline"); err != "" {
		return f.err("", -1, "bare_newline", err)
	}
	if err := c.checkBareNewlineCode(c.BareNewlineRejectCode, "bare_newline_reject_code"); err != "" {
		return f.err("", -1, "bare_newline_reject_code", err)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if err := c.checkBareNewline(l.BareNewline, "listener", strconv.Itoa(i), "bare_newline"); err != "" {
			return f.err("listener", i, "bare_newline", err)
		}
		if err := c.checkBareNewlineCode(l.BareNewlineRejectCode, "listener", strconv.Itoa(i), "bare_newline_reject_code"); err != "" {
			return f.err("listener", i, "bare_newline_reject_code", err)
		}
		if l.BareNewline == "" {
			l.BareNewline = c.BareNewline
		}
		if l.BareNewlineRejectCode == 0 {
			l.BareNewlineRejectCode = c.BareNewlineRejectCode
		}
		if l.BareNewlineExclusions == nil {
			l.BareNewlineExclusions = c.BareNewlineExclusions
		}
	}
	return nil
}

// checkBareNewlineCode says what is wrong with code, the value at path:
// a code that is not 5xx (postconf(5): "Specify a 5XX status code"), a
// 0 written included (left out is how to say the default).
func (c *Config) checkBareNewlineCode(code int, path ...string) string {
	if code >= 500 && code <= 599 || code == 0 && !c.written(path...) {
		return ""
	}
	return fmt.Sprintf("bare_newline_reject_code = %d: want a 5xx code: 550 (the default), or 521 to close the connection after it", code)
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
