package route

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// Automatic BCC, for archiving: Postfix's always_bcc, sender_bcc_maps and
// recipient_bcc_maps, which its cleanup daemon applies to new mail. The
// data hook adds the address as one more recipient:
//
//   - always_bcc to every message;
//   - sender_bcc's for the envelope sender (not the null sender, which
//     Postfix looks up in no BCC map);
//   - recipient_bcc's for each recipient as received, before the aliases
//     rewrite it, as cleanup looks recipient_bcc_maps up before virtual
//     alias expansion (cleanup_addr_recipient, then cleanup_out_recipient);
//     an SRS address of ours as the address it stands for, as cleanup
//     looks the map up after recipient_canonical_maps, where postsrsd's
//     reverse table sits, rewrote it.
//
// The keys are looked up as aliases are: the address, then the address
// without its +detail, then "@domain". A BCC address is itself rewritten
// by the aliases and routed by the rules, as cleanup sends it through
// virtual alias expansion, and added once, unless it is a recipient
// already, with NOTIFY=NEVER: Postfix adds it "as if it was specified
// with NOTIFY=NONE" (postconf(5)), so the sender hears nothing of the
// copy's delivery or failure, as a filter's bcc action has it too. A
// message no recipient of which is left gets none; Sluice's own reports
// get none (the bounce hook adds no recipient), as Postfix adds no BCC to
// mail it generates itself.

// bccMaps is the stage's BCC configuration, checked.
type bccMaps struct {
	always    string
	sender    map[string]string // by addrKey, or "@domain"
	recipient map[string]string
}

// configureBcc checks the BCC settings: each address as the core checks
// a recipient a stage adds (envelope.MailboxError), at start rather than
// at each message, and each key as an alias key. It runs after the rules
// and aliases are set: a BCC address caught in an alias loop is an error.
func (p *Plugin) configureBcc(c Config) error {
	p.bcc = bccMaps{always: strings.TrimSpace(c.AlwaysBcc)}
	if p.bcc.always != "" {
		if err := p.checkBccAddr(p.bcc.always); err != nil {
			return fmt.Errorf("route: always_bcc %q: %v", c.AlwaysBcc, err)
		}
	}
	var err error
	if p.bcc.sender, _, err = addrMap("sender_bcc", c.SenderBcc, checkBccKey, p.checkBccAddr); err != nil {
		return err
	}
	p.bcc.recipient, _, err = addrMap("recipient_bcc", c.RecipientBcc, checkBccKey, p.checkBccAddr)
	return err
}

// checkBccKey accepts a BCC map key: user@domain or @domain.
func checkBccKey(k string) error {
	if i := strings.LastIndexByte(k, '@'); i < 0 || i == len(k)-1 {
		return errors.New("want user@domain or @domain")
	}
	return nil
}

// checkBccAddr refuses a BCC address the core would refuse to add, or one
// the aliases cannot rewrite.
func (p *Plugin) checkBccAddr(a string) error {
	if err := envelope.MailboxError(a); err != nil {
		return err
	}
	if _, err := p.expand("", a, 0); err != nil {
		return err
	}
	return nil
}

// lookup returns m's address for addr: addr's, addr's without its
// +detail, then its domain's; "" for none.
func (p *Plugin) lookup(m map[string]string, addr string) string {
	key := addrKey(addr)
	if v, ok := m[key]; ok {
		return v
	}
	if base, has := p.baseOf(key); has {
		if v, ok := m[base]; ok {
			return v
		}
	}
	return m["@"+domainOf(key)]
}

// bccEdits returns the recipients to add for mail from sender whose
// recipients were received as received and are now present, each
// routed, and what the trace is to say of them ("" for nothing).
func (p *Plugin) bccEdits(sender string, received, present []string) ([]sdk.Edit, string) {
	if len(present) == 0 {
		return nil, ""
	}
	type bcc struct{ addr, why string }
	var want []bcc
	if sender != "" {
		if a := p.lookup(p.bcc.sender, sender); a != "" {
			want = append(want, bcc{a, "sender_bcc for " + sender})
		}
	}
	for _, r := range received {
		r = p.srsOriginal(r)
		if a := p.lookup(p.bcc.recipient, r); a != "" {
			want = append(want, bcc{a, "recipient_bcc for " + r})
		}
	}
	if p.bcc.always != "" {
		want = append(want, bcc{p.bcc.always, "always_bcc"})
	}
	var edits []sdk.Edit
	var why []string
	for _, b := range want {
		targets, err := p.expand(sender, b.addr, 0)
		if err != nil {
			// Checked at start; a recipients_file changed since can
			// still make a catch-all loop.
			why = append(why, fmt.Sprintf("no copy to <%s> (%s): %v", b.addr, b.why, err))
			continue
		}
		for _, t := range targets {
			if containsFold(present, t) {
				continue
			}
			present = append(present, t)
			edits = append(edits, sdk.AddRecipient{Addr: t, Params: map[string]string{"NOTIFY": "NEVER"}})
			edits = append(edits, p.routeEdit(sender, t)...)
			why = append(why, fmt.Sprintf("copy to <%s> (%s), NOTIFY=NEVER", t, b.why))
		}
	}
	if len(why) == 0 {
		return nil, ""
	}
	return edits, "route: " + strings.Join(why, "; ")
}
