package route

import (
	"fmt"
	"strings"
)

// Rules are tried in order and the first that matches decides, where
// Postfix's transport_maps take the most specific entry wherever it is
// written (user@domain, then domain, then .domain, then *). A table moved
// from Postfix with the exceptions after the general entry would have its
// exceptions never apply, in silence; such a rule is refused instead, with
// the rule that hides it.

// scope is what a rule's match covers, for the rules whose scope is
// known (all but /regexp/ ones).
type scope struct {
	kind   scopeKind
	domain string // the domain, or the parent of subdomains
	addr   string // scopeAddress: the whole address
}

type scopeKind int

const (
	scopeUnknown    scopeKind = iota // a regular expression
	scopeAll                         // *
	scopeDomain                      // example.org
	scopeSubdomains                  // *.example.org, .example.org
	scopeAddress                     // user@example.org
	scopeNull                        // the null sender, <> (a rule's sender)
)

// covers reports whether every address b matches is one a matches too.
// base is an address without its +detail (see Plugin.baseOf).
func (a scope) covers(b scope, base func(string) (string, bool)) bool {
	under := func(d string) bool { return strings.HasSuffix(d, "."+a.domain) }
	switch a.kind {
	case scopeAll:
		return true
	case scopeDomain:
		return (b.kind == scopeDomain || b.kind == scopeAddress) && b.domain == a.domain
	case scopeSubdomains:
		return (b.kind == scopeDomain || b.kind == scopeAddress) && under(b.domain) ||
			b.kind == scopeSubdomains && (b.domain == a.domain || under(b.domain))
	case scopeAddress:
		if b.kind != scopeAddress {
			return false
		}
		// alice@ also takes alice+news@, when the detail is taken off.
		bb, _ := base(b.addr)
		return b.addr == a.addr || bb == a.addr
	case scopeNull:
		return b.kind == scopeNull
	}
	return false
}

// checkShadowed refuses a rule that an earlier rule hides entirely: one
// that takes every recipient it would, from every sender it would. A rule
// without a sender takes every sender, so it hides a sender rule of the
// same recipients written after it; a sender rule hides no rule without
// one.
func (p *Plugin) checkShadowed(rcs []Rule) error {
	for j, b := range p.rules {
		// A /regexp/ rule's scope is unknown: only * covers it.
		for i, a := range p.rules[:j] {
			if a.scope.covers(b.scope, p.baseOf) && a.senderScope.covers(b.senderScope, p.baseOf) {
				return fmt.Errorf("route: rule %d (%s) can never match: rule %d (%s) before it takes every address it would; "+
					"the first rule that matches decides, so put the more specific rule first", j+1, ruleName(rcs[j]), i+1, ruleName(rcs[i]))
			}
		}
	}
	return nil
}

// ruleName is how an error names a rule: its match, and its sender when
// it has one.
func ruleName(rc Rule) string {
	if strings.TrimSpace(rc.Sender) == "" {
		return fmt.Sprintf("%q", rc.Match)
	}
	return fmt.Sprintf("%q, sender %q", rc.Match, rc.Sender)
}
