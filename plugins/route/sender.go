package route

import "strings"

// A rule's sender makes it one of sender-dependent routing, Postfix's
// sender_dependent_relayhost_maps and sender_dependent_default_transport_maps
// (mail from @brand-a.example out through one provider, the rest through
// another): the rule applies when the envelope sender matches it as well
// as the recipient its match. Postfix consults those maps only for a
// recipient no transport_maps entry routes; here the rules are one ordered
// list, the first that matches deciding, so "brand-a mail to anywhere goes
// via X" is a rule match = "*", sender = "brand-a.example" written before
// the rules it is to win over.
//
// The sender is matched as a recipient is (domain, *.domain, user@domain,
// /regexp/, *; its +detail taken off as well, as Postfix's lookups of a
// sender do), and the null sender, which has no domain, only by "<>" and
// "*": "<>" is what Postfix looks it up as
// (empty_address_relayhost_maps_lookup_key), and what a /regexp/ sees.

// nullSender is the null sender as a rule's sender matches it.
const nullSender = "<>"

// compileSender compiles a rule's sender; nil for none (or "*"), which
// matches every sender.
func compileSender(written string) (func(addr string) bool, scope, error) {
	switch strings.TrimSpace(written) {
	case "", "*":
		return nil, scope{kind: scopeAll}, nil
	case nullSender:
		return func(a string) bool { return a == nullSender }, scope{kind: scopeNull}, nil
	}
	return compileMatch("sender", written)
}

// fromSender reports whether rl applies to mail from sender ("" for the
// null sender), or sender without its +detail.
func (p *Plugin) fromSender(rl *rule, sender string) bool {
	if rl.sender == nil {
		return true
	}
	if sender == "" {
		return rl.sender(nullSender)
	}
	for _, a := range p.forms(strings.ToLower(sender)) {
		if rl.sender(a) {
			return true
		}
	}
	return false
}
