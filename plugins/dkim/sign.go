package dkim

import (
	"crypto"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// signingKey is one configured key, loaded.
type signingKey struct {
	domain   string // dnsresolve.Fold: lowercased A-labels, no trailing dot
	selector string
	signer   crypto.Signer
}

// maySign reports whether the client may have its mail signed: it
// authenticated, or it connects from sign_networks (the plugin's own
// stand-in for the core's relay_networks, which plugins are not told).
func (p *Plugin) maySign(t *sdk.Txn) bool {
	if t.Session.AuthUser != "" {
		return true
	}
	ip, err := netip.ParseAddr(t.Session.ClientIP)
	if err != nil {
		return false
	}
	return netlist.Contains(p.signNets, ip.Unmap())
}

// sign signs the message of a client that may have its mail signed, by
// the From domain's keys, else by the envelope sender domain's.
func (p *Plugin) sign(t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if !p.maySign(t) {
		return sdk.Continue().Because("dkim: client " + t.Session.ClientIP + " neither authenticated nor in sign_networks"), nil
	}
	return p.signBy(m, "the From or sender domain", fromDomain(m), addrDomain(t.Envelope.MailFrom))
}

// signBy adds one DKIM-Signature per key of the first of domains that has
// keys (keysFor), each at the top of the header so that it precedes the
// fields it covers (RFC 6376 §5.6); with none, what names the domains
// tried says why the message goes unsigned.
func (p *Plugin) signBy(m *sdk.Message, what string, domains ...string) (sdk.Verdict, error) {
	keys, domain := p.keysFor(domains...)
	if len(keys) == 0 {
		return sdk.Continue().Because("dkim: no key for " + what), nil
	}
	raw := rawMessage(m)
	hkeys := p.headerKeys(m)
	var edits []sdk.Edit
	var names []string
	for _, k := range keys {
		s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain:                 k.domain,
			Selector:               k.selector,
			Signer:                 k.signer,
			HeaderCanonicalization: p.headerCan,
			BodyCanonicalization:   p.bodyCan,
			HeaderKeys:             hkeys,
		})
		if err != nil {
			return sdk.Verdict{}, err
		}
		if _, err := s.Write(raw); err != nil {
			_ = s.Close()
			return sdk.Verdict{}, err
		}
		if err := s.Close(); err != nil {
			return sdk.Verdict{}, fmt.Errorf("dkim: signing with %s._domainkey.%s: %w", k.selector, k.domain, err)
		}
		name, value, _ := strings.Cut(strings.TrimRight(s.Signature(), "\r\n"), ":")
		edits = append(edits, sdk.InsertHeader{Index: 0, Name: name, Value: strings.TrimLeft(value, " ")})
		names = append(names, k.selector+"._domainkey."+k.domain)
	}
	return sdk.Continue(edits...).Because("dkim: signed for " + domain + " with " + strings.Join(names, ", ")), nil
}

// keysFor returns the keys for the first of the domains that has any,
// trying each domain and then its parents (a key for example.org signs
// mail from news.example.org, which DMARC's relaxed alignment accepts).
func (p *Plugin) keysFor(domains ...string) ([]signingKey, string) {
	for _, d := range domains {
		for d != "" {
			var out []signingKey
			for _, k := range p.keys {
				if k.domain == d {
					out = append(out, k)
				}
			}
			if len(out) > 0 {
				return out, d
			}
			_, parent, ok := strings.Cut(d, ".")
			if !ok || !strings.Contains(parent, ".") {
				break // never climb to a bare TLD
			}
			d = parent
		}
	}
	return nil, ""
}

// maxSignedOccurrences bounds how many occurrences of one field h= names.
// go-msgauth's signer scans the whole header for each name in h=, so a
// header of 16,000 empty Cc fields (80 KB) made h= list Cc 16,001 times
// and cost seconds of a core, past the stage timeout: the message left
// unsigned. The verifier picks occurrences from the bottom (RFC 6376
// §5.4.2), as the signer does, so signing the last ones is consistent.
const maxSignedOccurrences = 16

// headerKeys builds h=: every present occurrence of each configured field
// (the last maxSignedOccurrences of a field repeated more), plus one more
// for over-signed fields (RFC 6376 §5.4.2), so that a field added later
// breaks the signature.
func (p *Plugin) headerKeys(m *sdk.Message) []string {
	count := map[string]int{}
	for _, h := range m.Headers {
		count[strings.ToLower(h.Name)]++
	}
	over := map[string]bool{}
	for _, h := range p.oversign {
		over[strings.ToLower(h)] = true
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		l := strings.ToLower(name)
		if seen[l] {
			return
		}
		seen[l] = true
		n := min(count[l], maxSignedOccurrences)
		if over[l] {
			n++
		}
		for range n {
			out = append(out, name)
		}
	}
	for _, h := range p.headers {
		add(h)
	}
	for _, h := range p.oversign {
		add(h)
	}
	return out
}

// fromDomain is the domain of the (first) RFC5322.From address, lowercased.
func fromDomain(m *sdk.Message) string {
	v := m.Get("From")
	if v == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		return addrDomain(list[0].Address)
	}
	// Unparseable: take what follows the last @ up to a closing bracket.
	return addrDomain(strings.TrimRight(strings.TrimSpace(v), ">"))
}

// addrDomain is the domain of a mailbox as keys are matched: lowercased,
// and a Unicode domain (SMTPUTF8 mail) as its A-labels; or "".
func addrDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return dnsresolve.Fold(strings.TrimSpace(addr[i+1:]))
}
