// Package rejectfooter is reject_footer, Postfix's smtpd_reject_footer:
// text a listener adds to each of its 4xx and 5xx replies, with a few
// $name macros of the session (Postfix's smtp_reply_footer and
// smtpd_expand_lookup). core/config checks a template with Parse, core/smtpd
// expands it, and import-postfix converts Postfix's names to these.
package rejectfooter

import (
	"fmt"
	"strings"
)

// MaxLine is the longest reply line, its code and CRLF included (RFC
// 5321 §4.5.3.1.5).
const MaxLine = 512

// Vars are the values of the macros in one reply.
type Vars struct {
	ClientAddress string // $client_address: the client's IP address
	ClientPort    string // $client_port: its TCP port, "unknown" without one
	LocalTime     string // $localtime: "Jan 02 15:04:05" (LocalTimeLayout)
	Hostname      string // $hostname, $myhostname: the server's hostname
	Listener      string // $listener: the listener's name
}

// LocalTimeLayout is $localtime's form, Postfix's "%b %d %H:%M:%S", as
// its log lines carry it: the time is there to find them.
const LocalTimeLayout = "Jan 02 15:04:05"

// Widest macro values, for the line length check at config time: an
// IPv6 address written out in full, "unknown" for a port, and the
// fixed width of LocalTimeLayout.
const (
	maxAddress = len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	maxPort    = len("unknown")
	maxTime    = len(LocalTimeLayout)
)

// macro is one $name.
type macro int

const (
	literal macro = iota
	clientAddress
	clientPort
	localTime
	hostname
	listener
)

// names are the macros by name; $myhostname is Postfix's name for the
// hostname, which its smtpd footer calls $server_name.
var names = map[string]macro{
	"client_address": clientAddress,
	"client_port":    clientPort,
	"localtime":      localTime,
	"hostname":       hostname,
	"myhostname":     hostname,
	"listener":       listener,
}

// Known lists the macro names, for error messages and import-postfix.
const Known = "$client_address, $client_port, $localtime, $hostname (or $myhostname), $listener, and $$ for a dollar sign"

// part is literal text or a macro.
type part struct {
	m    macro
	text string // literal's
}

// Footer is a parsed template.
type Footer struct {
	// join: the template began with "\c", so its first line goes on
	// the end of the reply's last line, not on a line of its own.
	join  bool
	lines [][]part
}

// Parse reads a template: printable ASCII and tabs, "\n" (the two
// characters, or a line feed) between lines, "\c" at the very start to
// join the first line to the reply's last, and the macros in Known,
// written $name, ${name} or $(name). "" is no footer (nil).
func Parse(s string) (*Footer, error) {
	if s == "" {
		return nil, nil
	}
	f := &Footer{}
	if rest, ok := strings.CutPrefix(s, `\c`); ok {
		f.join, s = true, rest
	}
	for _, line := range strings.Split(strings.ReplaceAll(s, `\n`, "\n"), "\n") {
		parts, err := parseLine(line)
		if err != nil {
			return nil, err
		}
		f.lines = append(f.lines, parts)
	}
	return f, nil
}

// parseLine reads one line of a template.
func parseLine(s string) ([]part, error) {
	for _, r := range s {
		if r != '\t' && (r < ' ' || r > '~') {
			// A CR would end the reply line early and start one the
			// template did not mean; RFC 5321 §4.2 reply text is ASCII.
			return nil, fmt.Errorf("%q: want printable ASCII (RFC 5321 §4.2), not %q", s, r)
		}
	}
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			continue
		}
		name, n, err := macroName(s[i+1:])
		if err != nil {
			return nil, err
		}
		i += n
		if name == "$" {
			lit.WriteByte('$')
			continue
		}
		m, ok := names[name]
		if !ok {
			return nil, fmt.Errorf("unknown macro $%s: want %s", name, Known)
		}
		if lit.Len() > 0 {
			parts = append(parts, part{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, part{m: m})
	}
	if lit.Len() > 0 {
		parts = append(parts, part{text: lit.String()})
	}
	return parts, nil
}

// macroName reads the name after a '$' in s: "$" for "$$", a name of
// letters, digits and underscores, or one in braces or parentheses; n
// is how many bytes of s it took.
func macroName(s string) (name string, n int, err error) {
	if strings.HasPrefix(s, "$") {
		return "$", 1, nil
	}
	if s != "" && (s[0] == '{' || s[0] == '(') {
		end := map[byte]byte{'{': '}', '(': ')'}[s[0]]
		i := strings.IndexByte(s, end)
		if i < 0 {
			return "", 0, fmt.Errorf("$%s: no closing %q", s, end)
		}
		if i == 1 {
			return "", 0, fmt.Errorf("$%s: no macro name", s[:2])
		}
		return s[1:i], i + 1, nil
	}
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if n == 0 {
		return "", 0, fmt.Errorf("a lone $: write $$ for a dollar sign, or one of %s", Known)
	}
	return s[:n], n, nil
}

// Join reports whether the template began with "\c".
func (f *Footer) Join() bool { return f != nil && f.join }

// Lines is the footer's text lines with v's values in its macros.
func (f *Footer) Lines(v Vars) []string {
	if f == nil {
		return nil
	}
	out := make([]string, len(f.lines))
	for i, parts := range f.lines {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.value(v))
		}
		out[i] = b.String()
	}
	return out
}

func (p part) value(v Vars) string {
	switch p.m {
	case clientAddress:
		return v.ClientAddress
	case clientPort:
		return v.ClientPort
	case localTime:
		return v.LocalTime
	case hostname:
		return v.Hostname
	case listener:
		return v.Listener
	}
	return p.text
}

// Longest is the length of the footer's longest line with the macros
// as wide as they can be, the server's hostname and listener's name
// given, so that a config whose footer lines fit a reply line always
// does.
func (f *Footer) Longest(host, listener string) int {
	widest := Vars{
		ClientAddress: strings.Repeat("x", maxAddress),
		ClientPort:    strings.Repeat("x", maxPort),
		LocalTime:     strings.Repeat("x", maxTime),
		Hostname:      host,
		Listener:      listener,
	}
	n := 0
	for _, l := range f.Lines(widest) {
		n = max(n, len(l))
	}
	return n
}

// Append returns a reply's text lines with the footer's after them, as
// Postfix's smtp_reply_footer does: each footer line a line of its own,
// or with "\c" the first on the end of the reply's last line. prefix is
// the length of what goes before each line's text ("550-5.7.1 ") and
// after it (CRLF): a joined line that would then be longer than MaxLine
// (RFC 5321 §4.5.3.1.5; the reply's own text is the stage's or the
// milter's, of any length) goes on a line of its own instead.
func (f *Footer) Append(text []string, prefix int, v Vars) []string {
	if f == nil {
		return text
	}
	lines := f.Lines(v)
	out := append([]string(nil), text...)
	if f.join && len(out) > 0 {
		last := len(out) - 1
		if prefix+len(out[last])+len(lines[0]) <= MaxLine {
			out[last] += lines[0]
			lines = lines[1:]
		}
	}
	return append(out, lines...)
}
