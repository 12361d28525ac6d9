package route

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// BATV in the route stage, as Exim's prvs expansions and Haraka's bounce
// plugin use it against backscatter: the bounces of spam forged with the
// site's addresses. The data hook tags the envelope sender of the site's
// own mail (batvcodec.go): a sender at one of batv.domains, from a
// relay_networks or AUTH client (the Received and From fields stay),
// going to at least one address outside local_domains, becomes
// prvs=KDDDSSSSSS=alice@example.org, the last of the sender rewriting.
// Mail from outside is never tagged, whatever its sender (a forger would
// get a tag for the forged address), nor the null sender, a sender
// already tagged, mail only to local domains, or mail whose sender SRS
// rewrote (SRS is for the senders of others). The whole message has the
// tagged sender: its local recipients see it too.
//
// At RCPT, a tagged address at one of batv.domains is checked (hash,
// then expiry) and, good, routed as the address it stands for: aliases
// and rules as for any recipient. A forged one is refused (550 5.7.1),
// whatever the sender; an expired one only for a bounce (MAIL FROM:<>),
// as BATV validates the bounces and Exim's documented prvscheck ACL
// tests only "senders = :": mail with a sender is a reply, a person's or
// a ticket system's, to the envelope sender, which may come weeks
// later and must not be lost. With reject_untagged, a bounce (MAIL FROM:<>)
// from outside to an untagged address of those domains is refused too,
// postmaster excepted (RFC 5321 §4.5.1): a genuine one comes back
// tagged. The site's own clients are spared it: a mailbox server's
// vacation or Sieve reject sends from <> to local users' untagged
// addresses.

// batvRefusal is the reply to a tagged address that does not check out.
// RFC 3463 X.7.1: delivery not authorized, message refused; the text
// says which fault, for the postmaster of the server bouncing to it.
func (p *Plugin) batvRefusal(addr string, err error) sdk.Verdict {
	return sdk.Reject(550, "5.7.1", "Recipient address rejected: invalid bounce address tag: "+err.Error()).
		Because(fmt.Sprintf("route: BATV: %s: %v%s", addr, err, p.batv.file.trouble()))
}

// batvDomain reports whether addr is at one of batv.domains.
func (p *Plugin) batvDomain(addr string) bool {
	return p.batv != nil && strings.LastIndexByte(addr, '@') > 0 && p.batv.domains[dnsresolve.Fold(domainOf(addr))]
}

// batvAddress reports whether addr is a tagged address at one of
// batv.domains.
func (p *Plugin) batvAddress(addr string) bool {
	return p.batvDomain(addr) && batvTagged(addr[:strings.LastIndexByte(addr, '@')])
}

// batvStrip returns the address the tagged address addr stands for, and
// ok; ok is false for an address that is no tagged address of ours. With
// checkAge false, the expiry is not checked: for an address accepted at
// RCPT before midnight, at DATA after it, and for a sender stored with
// queued mail.
func (p *Plugin) batvStrip(addr string, checkAge bool) (string, bool, error) {
	if !p.batvAddress(addr) {
		return "", false, nil
	}
	c := *p.batv.codec
	if !checkAge {
		c.maxAge = batvCycle - 1
	}
	orig, err := c.check(addr)
	return orig, true, err
}

// batvOriginal is the address addr stands for when it is a tagged address
// of ours whose hash checks out, else addr.
func (p *Plugin) batvOriginal(addr string) string {
	if orig, ok, err := p.batvStrip(addr, false); ok && err == nil {
		return orig
	}
	return addr
}

// batvUntagged refuses, with reject_untagged, the bounce from outside to
// rcpt, an untagged address of batv.domains; ok is false when it goes on.
func (p *Plugin) batvUntagged(t *sdk.Txn, rcpt string) (sdk.Verdict, bool) {
	if p.batv == nil || !p.batv.rejectUntagged || t.Envelope.MailFrom != "" || ownClient(t.Session) ||
		!p.batvDomain(rcpt) || isPostmaster(rcpt) || p.srsAddress(rcpt) {
		return sdk.Verdict{}, false
	}
	return sdk.Reject(550, "5.7.1", "Recipient address rejected: bounce to an address that sends only tagged mail (BATV)").
		Because(fmt.Sprintf("route: BATV: bounce to untagged <%s> (reject_untagged)", rcpt)), true
}

// batvSign returns the tagged sender for the site's own mail from from
// (as sender_canonical left it) to present, with the trace's words: ""
// and "" when the mail is not in scope, "" and why when the sender is
// kept all the same.
func (p *Plugin) batvSign(s sdk.Session, from string, present []string) (string, string) {
	at := strings.LastIndexByte(from, '@')
	if !p.batvDomain(from) || !ownClient(s) || batvTagged(from[:at]) {
		return "", ""
	}
	to := ""
	for _, a := range present {
		if !p.local[dnsresolve.Fold(domainOf(a))] {
			to = a
			break
		}
	}
	if to == "" {
		return "", ""
	}
	n := p.batv.codec.sign(from[:at] + asciiLower(from[at:]))
	if err := envelope.MailboxError(n); err != nil {
		// A local part over 64 octets with its 16 of tag: the core would
		// refuse it as a sender.
		return "", fmt.Sprintf("route: BATV: sender <%s> kept (mail to <%s>): <%s> would not do: %v", from, to, n, err)
	}
	return n, fmt.Sprintf("route: BATV: sender <%s> → <%s> (mail to <%s>)%s", from, n, to, p.batv.file.trouble())
}
