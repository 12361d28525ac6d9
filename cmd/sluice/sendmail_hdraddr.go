package main

import "strings"

// addrFields are the header fields whose addresses a bare user name is
// qualified in, Postfix's cleanup's sender and recipient fields
// (header_opts.c): cron writes "From: root (Cron Daemon)" and "To: root",
// unattended-upgrades "From: root", and a receiver refuses a From without
// a domain (RFC 5322 §3.4.1 wants addr-spec with one).
var addrFields = []string{
	"From", "Sender", "Reply-To", "Errors-To", "Return-Receipt-To",
	"Resent-From", "Resent-Sender", "Resent-Reply-To",
	"To", "Cc", "Apparently-To", "Resent-To", "Resent-Cc",
}

// qualifyFields appends @domain to each bare user name in m's address
// fields, as Postfix's cleanup does for local submission
// (append_at_myorigin).
func (m *smMessage) qualifyFields(domain string) {
	for i, f := range m.fields {
		name := fieldName(f)
		for _, a := range addrFields {
			if strings.EqualFold(name, a) {
				m.fields[i] = name + ":" + qualifyAddrList(f[len(name)+1:], domain)
				break
			}
		}
	}
}

// qualifyAddrList appends "@"+domain to each address of v, an address
// list (RFC 5322 §3.4) with its folding, that is a local part alone:
// "root (Cron Daemon)" becomes "root@domain (Cron Daemon)", "Cron
// <root>" "Cron <root@domain>". Display names, comments, groups and
// folding are kept as they are. Anything it cannot read (an unclosed
// quote, comment or angle bracket; words that are no local part) is
// left alone.
func qualifyAddrList(v, domain string) string {
	var at []int // where "@domain" goes
	// The address being read: its local part's end, whether it has an
	// "@", whether white space came between its words (a display name
	// without an angle-addr, not an address), and whether its angle-addr
	// is closed.
	start, end, hasAt, gap, closed := -1, -1, false, false, false
	angle, quoted, comment, escaped := false, false, 0, false
	reset := func() { start, end, hasAt, gap, closed = -1, -1, false, false, false }
	done := func() {
		if start >= 0 && !hasAt && !gap {
			at = append(at, end)
		}
		reset()
	}
	word := func(i, n int) { // a word of the local part at v[i:i+n]
		if closed {
			return
		}
		if start >= 0 && end < i {
			gap = true
		}
		if start < 0 {
			start = i
		}
		end = i + n
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
			if quoted && !closed {
				end = i + 1
			}
		case c == '\\' && (quoted || comment > 0):
			escaped = true
		case quoted:
			if c == '"' {
				quoted = false
				if !closed {
					end = i + 1
				}
			}
		case comment > 0:
			switch c {
			case '(':
				comment++
			case ')':
				comment--
			}
		case c == '(':
			comment++
		case c == '"':
			word(i, 1)
			quoted = true
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c == '<' && !angle:
			reset() // the words before were a display name
			angle = true
		case c == '>' && angle:
			angle = false
			done()
			closed = true // later words until the comma are not the address
		case angle:
			if c == '@' || c == ':' || c == ',' {
				hasAt = true // an address or an obsolete route: not bare
			}
			word(i, 1)
		case c == ':':
			reset() // a group's display name (RFC 5322 §3.4)
		case c == ',' || c == ';':
			if !closed {
				done()
			}
			reset()
		default:
			if c == '@' {
				hasAt = true
			}
			word(i, 1)
		}
	}
	if quoted || comment > 0 || angle || escaped {
		return v
	}
	if !closed {
		done()
	}
	if len(at) == 0 {
		return v
	}
	var b strings.Builder
	prev := 0
	for _, p := range at {
		b.WriteString(v[prev:p])
		b.WriteString("@" + domain)
		prev = p
	}
	b.WriteString(v[prev:])
	return b.String()
}
