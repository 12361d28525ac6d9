package filter

import (
	"fmt"
	"net/netip"
	"strings"
)

// accessCond is an access rule's condition and action: a Postfix access(5)
// table (check_client_access, check_helo_access, check_sender_access,
// check_recipient_access), whose keys say what is looked for and whose
// values what is done.
type accessCond struct {
	table *accessTable
	// sep is detail_separator, Postfix's recipient_delimiter: its
	// characters split user+ext@ for the lookups without the extension.
	sep string
	// parent: a domain key matches its subdomains too, as Postfix's
	// default parent_domain_matches_subdomains has it for
	// smtpd_access_maps; otherwise ".domain" keys do.
	parent bool
}

// accessOptions are the stage's settings for its access rules.
type accessOptions struct {
	sep    string
	parent bool
	// warn reports that a rule's table could not be read again.
	warn func(rule, spec string, err error)
}

// accessKey is one lookup: partial when it is a part of what is checked
// (a parent domain, a network, user@), which only key-value tables answer.
type accessKey struct {
	key     string
	partial bool
}

// accessQuery is what an access rule asks its table at a hook.
type accessQuery struct {
	what  string // "sender <bob@example.org>", for the reason
	keys  []accessKey
	name  string // what a refusal names: <name>: Class rejected: ...
	class string
}

// query is what c looks up at hook, in access(5)'s order.
func (c *accessCond) query(hook string, s *scope) accessQuery {
	t := s.txn
	switch hook {
	case hookConnect:
		// Postfix's check_client_access: the verified name ("unknown"
		// without one) and its parent domains, then the address and its
		// networks.
		name := t.Session.ClientName
		if name == "" {
			name = "unknown"
		}
		addr := t.Session.ClientIP
		if a, err := netip.ParseAddr(addr); err == nil {
			addr = a.Unmap().WithZone("").String()
		}
		namaddr := name + "[" + addr + "]"
		return accessQuery{what: "client " + namaddr, keys: append(c.domainKeys(name, false), addrKeys(addr)...),
			name: namaddr, class: classClient}
	case hookHelo:
		h := t.Session.Helo
		return accessQuery{what: fmt.Sprintf("helo %q", h), keys: c.domainKeys(h, false), name: h, class: classHelo}
	case hookMail:
		from := t.Envelope.MailFrom
		q := accessQuery{what: "sender <" + from + ">", name: from, class: classSender}
		if from == "" {
			// smtpd_null_access_lookup_key: the whole key, in any table.
			q.keys = []accessKey{{key: "<>"}}
		} else {
			q.keys = c.mailKeys(from)
		}
		return q
	default:
		return accessQuery{what: "recipient <" + s.rcpt + ">", keys: c.mailKeys(s.rcpt), name: s.rcpt, class: classRecipient}
	}
}

// mailKeys are an address's lookups (access(5), EMAIL ADDRESS PATTERNS
// and EMAIL ADDRESS EXTENSION): user+ext@domain, user@domain, domain and
// its parents, user+ext@, user@. Only the first is asked of a cidr,
// regexp or pcre table.
func (c *accessCond) mailKeys(addr string) []accessKey {
	local, domain, hasAt := addr, "", false
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain, hasAt = addr[:i], addr[i+1:], true
	}
	keys := []accessKey{{key: addr}}
	bare, ext := splitDetail(local, c.sep)
	if ext && hasAt {
		keys = append(keys, accessKey{key: bare + "@" + domain, partial: true})
	}
	keys = append(keys, c.domainKeys(domain, true)...)
	keys = append(keys, accessKey{key: local + "@", partial: true})
	if ext {
		keys = append(keys, accessKey{key: bare + "@", partial: true})
	}
	return keys
}

// domainKeys are a name's lookups: the name, then each parent domain
// (top-level included, as Postfix's check_domain_access does), or each
// ".parent" when c.parent is off. An address, or an address literal, is
// looked up as it is. partial says the name itself is a part.
func (c *accessCond) domainKeys(name string, partial bool) []accessKey {
	if name == "" {
		return nil
	}
	keys := []accessKey{{key: name, partial: partial}}
	if _, err := netip.ParseAddr(name); err == nil || strings.HasPrefix(name, "[") {
		return keys
	}
	for cur := name; ; {
		i := strings.IndexByte(cur[1:], '.')
		if i < 0 {
			break
		}
		next := cur[1+i:]
		if c.parent {
			next = next[1:]
		}
		if next == "" {
			break
		}
		keys = append(keys, accessKey{key: next, partial: true})
		cur = next
	}
	return keys
}

// addrKeys are a client address's lookups: the address, then its
// networks made by dropping the last ".octet" (IPv4: 192.0.2, 192.0, 192)
// or ":group" of its compressed form (IPv6: 2001:db8::1, 2001:db8:,
// 2001:db8, 2001), as Postfix's check_addr_access does.
func addrKeys(addr string) []accessKey {
	if addr == "" {
		return nil
	}
	delim := byte('.')
	if strings.Contains(addr, ":") {
		delim = ':'
	}
	keys := []accessKey{{key: addr}}
	for cur := addr; ; {
		i := strings.LastIndexByte(cur, delim)
		if i <= 0 {
			break
		}
		cur = cur[:i]
		keys = append(keys, accessKey{key: cur, partial: true})
	}
	return keys
}

// splitDetail splits a local part at the first of sep's characters, as
// Postfix's split_addr does: not postmaster, MAILER-DAEMON or
// double-bounce, nor, with "-" a separator, owner-list and list-request;
// and not when nothing comes before the separator.
func splitDetail(local, sep string) (bare string, ok bool) {
	if sep == "" {
		return local, false
	}
	for _, special := range []string{"postmaster", "mailer-daemon", "double-bounce"} {
		if strings.EqualFold(local, special) {
			return local, false
		}
	}
	lower := strings.ToLower(local)
	if strings.Contains(sep, "-") && (strings.HasPrefix(lower, "owner-") || len(lower) > 8 && strings.HasSuffix(lower, "-request")) {
		return local, false
	}
	i := strings.IndexAny(local, sep)
	if i <= 0 {
		return local, false
	}
	return local[:i], true
}

// find asks m the keys in order; the first found decides, DUNNO included,
// which keeps the less specific keys from being asked (access(5): DUNNO
// "prevents Postfix from trying substrings of the lookup key").
func find(m accessMap, keys []accessKey) (accessEntry, bool) {
	for _, k := range keys {
		if k.partial && !m.indexed() || k.key == "" {
			continue
		}
		if e, ok := m.find(k.key); ok {
			return e, true
		}
	}
	return accessEntry{}, false
}

// matchAccess looks r's table up for what r's hook checks. A match is the
// rule its value makes (see accessRule); DUNNO and no match are none.
func (p *Plugin) matchAccess(r *rule, s *scope) (*rule, string, bool) {
	c := r.access
	m, err := c.table.current()
	if err != nil {
		s.note(fmt.Sprintf("rule %q: %s as last read: reading it again failed: %v", r.name, c.table.spec, err))
	}
	q := c.query(r.hook, s)
	e, ok := find(m, q.keys)
	if !ok {
		return nil, "", false
	}
	why := fmt.Sprintf("%s: %q in %s line %d: %s", q.what, e.key, c.table.spec, e.line, e.raw)
	if e.err != nil {
		s.note(fmt.Sprintf("rule %q: %s: %v: taken as DUNNO", r.name, why, e.err))
		return nil, "", false
	}
	eff := accessRule(r, e.value, q.name, q.class)
	return eff, why, eff != nil
}

// accessRule is the rule an access table's value makes of r, as Postfix
// acts on it: OK (and RELAY, an all-numerical value) passes, REJECT,
// DEFER and 4NN/5NN refuse with Postfix's reply, DISCARD discards, HOLD
// quarantines unless a later rule refuses, REDIRECT, BCC and PREPEND are
// the redirect, bcc and add_header actions, WARN and INFO warn, and
// DEFER_IF_REJECT and DEFER_IF_PERMIT turn a later rule's reject, or a
// later pass, into their 450 (see deferIf). DUNNO makes none: the next
// rule is asked.
func accessRule(r *rule, a accessValue, name, class string) *rule {
	e := &rule{name: r.name, hook: r.hook}
	switch a.verb {
	case verbDunno:
		return nil
	case verbOK:
		e.action = actPass
	case verbReject:
		e.action, e.reply = actReject, accessReply(a, name, class)
		if a.code/100 == 4 {
			e.action = actTempfail
		}
	case verbDeferIfReject:
		e.action, e.reply = actDeferIfReject, accessReply(a, name, class)
	case verbDeferIfPermit:
		e.action, e.reply = actDeferIfPermit, accessReply(a, name, class)
	case verbDiscard:
		e.action = actDiscard
	case verbHold:
		e.action = actHold
	case verbRedirect:
		e.action, e.redirect = actRedirect, a.addr
	case verbBcc:
		e.action, e.bcc = actBcc, a.addr
	case verbPrepend:
		e.action, e.field = actAddHeader, a.hdr
	case verbWarn:
		e.action = actWarn
	}
	return e
}

// deferIf is the evaluation's outcome after the DEFER_IF_REJECT and
// DEFER_IF_PERMIT values among adds, the first of each: a reject after a
// DEFER_IF_REJECT becomes its 450 (access_map_defer_code), as does a
// pass, or the end of the hook's rules, after a DEFER_IF_PERMIT. Postfix
// defers when a later restriction of the whole list would reject or
// permit; the filter knows its own rules of the hook, and defers for them.
func deferIf(final *hit, adds []hit) *hit {
	var dir, dip *hit
	for i := range adds {
		switch {
		case adds[i].r.action == actDeferIfReject && dir == nil:
			dir = &adds[i]
		case adds[i].r.action == actDeferIfPermit && dip == nil:
			dip = &adds[i]
		}
	}
	var by *hit
	what := "the hook's rules ended"
	switch {
	case final != nil && final.r.action == actReject && dir != nil:
		by, what = dir, final.why
	case final != nil && final.r.action == actPass && dip != nil:
		by, what = dip, final.why
	case final == nil && dip != nil:
		by = dip
	default:
		return final
	}
	r := *by.r
	r.action = actTempfail
	what = fmt.Sprintf("%s, after %s", what, strings.ToUpper(by.r.action))
	return &hit{r: &r, why: fmt.Sprintf("rule %q (%s): %s", r.name, r.action, what), what: what}
}

// compileAccess reads an access rule's table. The table's keys are the
// rule's condition and its values the actions and replies: a rule that
// also took match or an action would say two things at once.
func (r *rule) compileAccess(rc RuleConfig, ao accessOptions) error {
	switch {
	case rc.Match != "" || len(rc.DNSBL) > 0 || len(rc.RHSBL) > 0 || rc.Networks != nil || rc.UnknownDomain || rc.Authenticated != nil:
		return fmt.Errorf("access takes no match, dnsbl, rhsbl, networks, unknown_domain or authenticated: its table's keys are the condition (write a rule before it for another)")
	case rc.Action != "" || rc.Code != 0 || rc.Enhanced != "" || rc.Text != "":
		return fmt.Errorf("access takes no action, code, enhanced or text: its table's values are the actions and their replies (OK, REJECT text, 450 4.7.1 text, ...)")
	case rc.HeaderName != "" || rc.HeaderValue != "" || rc.Redirect != "" || rc.Bcc != "" || rc.Replace != nil:
		return fmt.Errorf("access takes no header_name, header_value, redirect, bcc or replace: its table's PREPEND, REDIRECT and BCC values are those")
	}
	name := r.name
	t, err := openAccessTable(rc.Access, func(err error) {
		if ao.warn != nil {
			ao.warn(name, rc.Access, err)
		}
	})
	if err != nil {
		return fmt.Errorf("access: %v", err)
	}
	r.action = actAccess
	r.access = &accessCond{table: t, sep: ao.sep, parent: ao.parent}
	return nil
}
