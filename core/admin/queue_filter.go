package admin

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// maxFilterLen bounds a from or to filter: longer than any address
// (RFC 5321 §4.5.3.1.3 allows 256 octets for a path) cannot match.
const maxFilterLen = 512

// pageFilter selects the messages GET /api/queue lists: those in a state,
// from a sender, to a recipient. Addresses are matched as exiqgrep's -f
// and -r match them, but with a plain substring, not a regular
// expression: case-insensitive, within the address written in angle
// brackets, so "<>" is the null sender, "@example.org>" a domain and
// "<root@" a local part.
type pageFilter struct {
	state    envelope.State
	from, to string // lower-cased; empty matches everything
}

// parsePageFilter reads the state, from and to parameters of q.
func parsePageFilter(q url.Values) (pageFilter, error) {
	f := pageFilter{state: envelope.State(q.Get("state")), from: strings.ToLower(q.Get("from")), to: strings.ToLower(q.Get("to"))}
	if f.state != "" && !f.state.Known() {
		return f, fmt.Errorf("unknown state %q: want one of %v", f.state, envelope.States)
	}
	for _, k := range []string{"from", "to"} {
		// Present but empty would select every message; a client that
		// meant a sender and sent none must not act on the whole queue.
		if q.Has(k) && q.Get(k) == "" {
			return f, fmt.Errorf("%s must not be empty ('<>' is the null sender)", k)
		}
	}
	if len(f.from) > maxFilterLen || len(f.to) > maxFilterLen {
		return f, fmt.Errorf("from and to are at most %d bytes", maxFilterLen)
	}
	return f, nil
}

// match reports whether m is listed. Only the recipients still waiting
// count for to, as only they are listed.
func (f pageFilter) match(m *envelope.Message) bool {
	if f.state != "" && m.State != f.state {
		return false
	}
	if f.from != "" && !bracketed(m.From, f.from) {
		return false
	}
	if f.to == "" {
		return true
	}
	for _, r := range m.Rcpts {
		if !r.Done() && bracketed(r.Addr, f.to) {
			return true
		}
	}
	return false
}

// bracketed reports whether "<"+addr+">" holds sub, case-insensitively
// (sub is lower-cased already).
func bracketed(addr, sub string) bool {
	return strings.Contains("<"+strings.ToLower(addr)+">", sub)
}
