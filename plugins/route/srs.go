package route

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// SRS in the route stage, as postsrsd adds it to Postfix (its forward
// table as sender_canonical_maps, its reverse table as
// recipient_canonical_maps). Mail an alias sends on to another domain
// (alice@gmail.example for info@example.org) keeps the original sender,
// whose SPF record does not list this host: the destination would refuse
// it. The data hook rewrites the envelope sender of such mail to an SRS
// address at srs.domain (srscodec.go), the last of the sender rewriting:
// after sender_canonical and masquerade_domains, and after the aliases,
// the rules and sender_bcc, which all see the sender before it (so do the
// deliver hook's rules: it reverses the stored SRS sender). Mail from a
// local or excluded domain, and the null sender, are never rewritten. The
// rewriting is the envelope's alone (the From field stays), and the
// message's whole: its local recipients see the SRS sender too.
//
// At RCPT, an SRS address at srs.domain is reversed, its hash and time
// stamp checked, and the recipient becomes the address it stands for,
// then goes through the aliases and rules as any recipient: the bounce
// (MAIL FROM:<>) of a forwarded message reaches its original sender. A
// forged or expired address is refused there (550 5.1.1). A report
// Sluice itself makes for such mail, to its SRS sender, is readdressed
// the same way at the bounce hook (bounce.go), or dropped.

// srsRefusal is the reply to an SRS address that does not reverse. RFC
// 3463 X.1.1: bad destination mailbox address; the text says which fault,
// for the postmaster of the server bouncing to it.
func (p *Plugin) srsRefusal(addr string, err error) sdk.Verdict {
	return sdk.Reject(550, "5.1.1", "Recipient address rejected: invalid SRS address: "+err.Error()).
		Because(fmt.Sprintf("route: SRS: %s: %v%s", addr, err, p.srs.file.trouble()))
}

// srsAddress reports whether addr is an SRS address at the SRS domain.
func (p *Plugin) srsAddress(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	return p.srs != nil && at > 0 && dnsresolve.Fold(addr[at+1:]) == p.srs.codec.domain && isSRS(addr[:at])
}

// srsReverse returns the address the SRS address addr stands for, and
// ok; ok is false for an address that is no SRS address of ours. With
// checkAge false, the time stamp is not checked: for an address accepted
// at RCPT before midnight, at DATA after it, and for a sender stored with
// queued mail.
func (p *Plugin) srsReverse(addr string, checkAge bool) (string, bool, error) {
	if !p.srsAddress(addr) {
		return "", false, nil
	}
	c := *p.srs.codec
	if !checkAge {
		c.maxAge = srsSlots
	}
	orig, err := c.reverse(addr[:strings.LastIndexByte(addr, '@')])
	return orig, true, err
}

// ruleSender is the sender the rules see for mail stored with sender:
// the address it stands for when it is an SRS or tagged (BATV) address
// of ours (the data hook's rewriting), so that a sender rule decides at
// delivery as it did at reception.
func (p *Plugin) ruleSender(sender string) string { return p.batvOriginal(p.srsOriginal(sender)) }

// srsOriginal is the address addr stands for when it is an SRS address of
// ours that reverses, its time stamp unchecked (checked at RCPT, if at
// all), else addr: one that does not reverse is refused at RCPT.
func (p *Plugin) srsOriginal(addr string) string {
	if orig, ok, err := p.srsReverse(addr, false); ok && err == nil {
		return orig
	}
	return addr
}

// srsForward returns the SRS address for mail from the sender from (as
// sender_canonical left it) whose recipients are now present and of
// which the stage itself added added (alias targets, BCC copies, reversed
// SRS addresses), with the trace's words: "" and "" when the mail is not
// in scope or its sender never rewritten, "" and why when the sender is
// kept all the same.
func (p *Plugin) srsForward(from string, present, added []string) (string, string) {
	if p.srs == nil || strings.LastIndexByte(from, '@') <= 0 || p.srs.srsLocal(domainOf(from)) {
		return "", ""
	}
	scope := added
	if p.srs.remote {
		scope = present
	}
	to := ""
	for _, a := range scope {
		if !p.srs.local[dnsresolve.Fold(domainOf(a))] {
			to = a
			break
		}
	}
	if to == "" {
		return "", ""
	}
	n := p.srs.codec.forward(from)
	if err := envelope.MailboxError(n); err != nil {
		// Most often a local part over 64 octets: the core would refuse
		// it as a sender (postsrsd too leaves such a sender as it is).
		return "", fmt.Sprintf("route: SRS: sender <%s> kept (mail to <%s>): <%s> would not do: %v", from, to, n, err)
	}
	return n, fmt.Sprintf("route: SRS: sender <%s> → <%s> (mail to <%s>)%s", from, n, to, p.srs.file.trouble())
}

// withSender returns edits with the envelope sender set to addr: the SRS
// address replaces sender_canonical's.
func withSender(edits []sdk.Edit, addr string) []sdk.Edit {
	out := edits[:0:0]
	for _, e := range edits {
		if _, ok := e.(sdk.SetSender); !ok {
			out = append(out, e)
		}
	}
	// No Params: the core keeps the sender's (RET=, ENVID=).
	return append([]sdk.Edit{sdk.SetSender{Addr: addr}}, out...)
}
