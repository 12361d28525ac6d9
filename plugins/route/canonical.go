package route

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// Sender rewriting: Postfix's sender_canonical_maps and masquerade_domains,
// which its cleanup daemon applies to new mail before the queue manager
// routes it. The data hook changes the envelope sender (and, for the
// site's own clients, the sender and recipient header fields:
// rewriteheaders.go); the rules, sender_bcc and the deliver hook then see
// the sender so rewritten, as Postfix's sender-dependent routing and
// sender_bcc_maps do.
//
// sender_canonical is looked up as canonical(5) has it: the address, the
// address without its +detail, then "@domain" (Postfix's bare "user" key,
// for its local domains, has no counterpart: write user@domain). A value
// "@domain" keeps the local part (user@old → user@new, +detail and all);
// a value that is an address replaces the whole, and a +detail the lookup
// had to take off goes on to it (alice+x@ → webmaster+x@), as Postfix's
// propagate_unmatched_extensions does for canonical maps by default. The
// result is looked up again, until an address maps to itself or none
// matches, at most maxCanonicalDepth times, as cleanup_map11 does; a
// loop is an error at start.
//
// masquerade_domains then strips the subdomains of a listed domain
// (user@host.sub.example.org → user@example.org), the first listed
// domain the address is in or under deciding: its own domain is left as
// it is, and "!domain" keeps that domain and those under it from a later
// entry. masquerade_exceptions names local parts never masqueraded
// (root), compared without case, as cleanup_masquerade does.
// masquerade_classes says which addresses it strips (canonical_classes.go).

// maxCanonicalDepth bounds a chain of sender_canonical rewrites.
const maxCanonicalDepth = 10

// masqDomain is one masquerade_domains entry.
type masqDomain struct {
	written string // as an address with UTF-8 in its domain gets it
	ascii   string // written with A-labels, as an ASCII address gets it
	folded  string // as it is compared
	keep    bool   // "!domain"
}

// senderRewrite is the stage's sender rewriting, checked.
type senderRewrite struct {
	canonical map[string]string // by addrKey or "@domain": an address or "@domain"
	masq      []masqDomain
	except    map[string]bool // local parts, lowercased
	classes   masqClasses     // masquerade_classes
	headers   bool            // rewrite_headers
}

// configureRewrite checks the sender rewriting settings, after
// detail_separator is set (the loop check looks addresses up as mail
// does).
func (p *Plugin) configureRewrite(c Config) error {
	rw := senderRewrite{except: map[string]bool{}, headers: true}
	if c.RewriteHeaders != nil {
		rw.headers = *c.RewriteHeaders
	}
	var keys []string
	var err error
	if rw.canonical, keys, err = addrMap("sender_canonical", c.SenderCanonical, checkCanonicalKey, checkCanonicalValue); err != nil {
		return err
	}
	for _, written := range c.MasqueradeDomains {
		d := strings.TrimSpace(written)
		m := masqDomain{}
		if strings.HasPrefix(d, "!") {
			m.keep, d = true, d[1:]
		}
		d = strings.TrimSuffix(d, ".")
		if !envelope.ValidDomain(d) || strings.HasPrefix(d, "[") {
			return fmt.Errorf("route: masquerade_domains %q: want a domain (example.org), or !domain to keep it and its subdomains as they are", written)
		}
		m.written, m.ascii, m.folded = d, dnsresolve.ASCII(d), dnsresolve.Fold(d)
		rw.masq = append(rw.masq, m)
	}
	for _, written := range c.MasqueradeExceptions {
		u := strings.TrimSpace(written)
		if u == "" || strings.ContainsAny(u, "@ \t/:") {
			return fmt.Errorf("route: masquerade_exceptions %q: want a local part (root), not an address, file or table", written)
		}
		rw.except[strings.ToLower(u)] = true
	}
	if len(rw.except) > 0 && len(rw.masq) == 0 {
		return errors.New("route: masquerade_exceptions without masquerade_domains: nothing is masqueraded")
	}
	if rw.classes, err = parseMasqClasses(c.MasqueradeClasses); err != nil {
		return err
	}
	if c.MasqueradeClasses != nil && len(rw.masq) == 0 {
		return errors.New("route: masquerade_classes without masquerade_domains: nothing is masqueraded")
	}
	p.rw = rw
	return p.checkCanonicalLoops(keys)
}

// checkCanonicalKey accepts user@domain or @domain.
func checkCanonicalKey(k string) error {
	at := strings.LastIndexByte(k, '@')
	if at < 0 || at == len(k)-1 {
		return errors.New("want user@domain or @domain (Postfix's bare user key, for its local domains, is written user@domain here)")
	}
	d := strings.TrimSuffix(k[at+1:], ".")
	if at == 0 {
		if !envelope.ValidDomain(d) {
			return errors.New("bad domain")
		}
		return nil
	}
	return envelope.MailboxError(k[:at+1] + d)
}

// checkCanonicalValue accepts an address the core takes as a sender, or
// "@domain" (the same local part at domain).
func checkCanonicalValue(v string) error {
	if strings.HasPrefix(v, "@") {
		if !envelope.ValidDomain(v[1:]) {
			return errors.New("bad domain")
		}
		return nil
	}
	if !strings.Contains(v, "@") {
		return errors.New("want user@domain or @domain (a bare name has no domain to go with it)")
	}
	return envelope.MailboxError(v)
}

// checkCanonicalLoops refuses a sender_canonical whose rewrites go round
// in a circle from one of its keys (a domain key with a local part
// "user"): Postfix gives up after ten rounds and keeps what it has then.
func (p *Plugin) checkCanonicalLoops(written []string) error {
	for _, w := range written {
		a := addrKey(strings.TrimSpace(w))
		if strings.HasPrefix(a, "@") {
			a = "user" + a
		}
		chain := []string{a}
		for {
			next, ok := p.canonicalOnce(a)
			if !ok || strings.EqualFold(next, a) {
				break
			}
			chain = append(chain, next)
			if containsFold(chain[:len(chain)-1], next) || len(chain) > maxCanonicalDepth {
				return fmt.Errorf("route: sender_canonical %q: the rewriting does not end: %s", w, strings.Join(chain, " → "))
			}
			a = next
		}
	}
	return nil
}

// canonicalOnce looks addr up in sender_canonical once: the address, the
// address without its +detail (which then goes on to the result), then
// its @domain. It reports false for no match.
func (p *Plugin) canonicalOnce(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || len(p.rw.canonical) == 0 {
		return "", false
	}
	key := addrKey(addr)
	if v, ok := p.rw.canonical[key]; ok {
		return canonicalResult(v, addr, ""), true
	}
	if base, has := p.baseOf(addr); has {
		if v, ok := p.rw.canonical[addrKey(base)]; ok {
			ext := addr[len(base)-len(addr[at:]) : at]
			return canonicalResult(v, base, ext), true
		}
	}
	if v, ok := p.rw.canonical["@"+domainOf(key)]; ok {
		return canonicalResult(v, addr, ""), true
	}
	return "", false
}

// canonicalResult is v for addr: "@domain" is addr's local part there;
// ext, the +detail taken off for the lookup, goes back before the "@".
func canonicalResult(v, addr, ext string) string {
	if strings.HasPrefix(v, "@") {
		v = addr[:strings.LastIndexByte(addr, '@')] + v
	}
	if ext == "" {
		return v
	}
	at := strings.LastIndexByte(v, '@')
	return v[:at] + ext + v[at:]
}

// masquerade strips addr's domain to the masquerade domain above it. An
// ASCII domain (host.xn--bcher-kva.example under "bücher.example") gets
// the A-label form: mail without SMTPUTF8 may carry no UTF-8 address in
// its envelope or header fields (RFC 6531 §3.2, RFC 6532 §3).
func (p *Plugin) masquerade(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || len(p.rw.masq) == 0 || p.rw.except[strings.ToLower(addr[:at])] {
		return addr
	}
	d := dnsresolve.Fold(addr[at+1:])
	for _, m := range p.rw.masq {
		switch {
		case d == m.folded:
			return addr
		case strings.HasSuffix(d, "."+m.folded):
			if m.keep {
				return addr
			}
			if envelope.IsASCII(addr[at+1:]) {
				return addr[:at+1] + m.ascii
			}
			return addr[:at+1] + m.written
		}
	}
	return addr
}

// rewriteSender returns addr as sender_canonical, then masquerade_domains
// (with envelope_sender in masquerade_classes) rewrite it, as Postfix's
// cleanup does an envelope sender.
func (p *Plugin) rewriteSender(addr string) string {
	return p.rewriteAddr(addr, true, p.rw.classes.envSender)
}

// rewriteAddr returns addr rewritten by sender_canonical when canon is
// true, then masqueraded when masq is; the null sender, and a result the
// core would refuse as a sender (a +detail put into a quoted local
// part), stay as they are.
func (p *Plugin) rewriteAddr(addr string, canon, masq bool) string {
	if addr == "" {
		return ""
	}
	a := addr
	if canon {
		a = p.canonical(a)
	}
	if masq {
		a = p.masquerade(a)
	}
	if a == addr || envelope.MailboxError(a) != nil {
		return addr
	}
	return a
}

// canonical returns addr looked up in sender_canonical until nothing
// matches or an address maps to itself, at most maxCanonicalDepth times.
func (p *Plugin) canonical(addr string) string {
	for range maxCanonicalDepth {
		next, ok := p.canonicalOnce(addr)
		if !ok {
			return addr
		}
		self := strings.EqualFold(next, addr)
		addr = next
		if self {
			break
		}
	}
	return addr
}

// senderEdits rewrites the envelope sender and, with rewrite_headers, the
// sender and recipient fields of the site's own clients' mail
// (rewriteheaders.go). It returns the sender the rest of the data hook
// is to see, the edits and what the trace is to say of them.
func (p *Plugin) senderEdits(t *sdk.Txn, m *sdk.Message) (string, []sdk.Edit, []string) {
	from := t.Envelope.MailFrom
	if len(p.rw.canonical) == 0 && len(p.rw.masq) == 0 {
		return from, nil, nil
	}
	var edits []sdk.Edit
	var why []string
	if n := p.rewriteSender(from); n != from {
		// No Params: the core keeps the sender's (RET=, ENVID=).
		edits = append(edits, sdk.SetSender{Addr: n})
		why = append(why, fmt.Sprintf("route: sender <%s> → <%s>", from, n))
		from = n
	}
	if p.rw.headers && m != nil && ownClient(t.Session) {
		he, hw := p.headerEdits(m)
		edits = append(edits, he...)
		for _, w := range hw {
			why = append(why, "route: "+w)
		}
	}
	return from, edits, why
}
