package filter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// domainResolver answers an unknown_domain condition's questions;
// *dnsresolve.Resolver satisfies it.
type domainResolver interface {
	LookupMX(ctx context.Context, domain string) ([]dnsresolve.MX, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// unknownDomain reports whether domain can receive no mail, which is
// Postfix's reject_unknown_sender_domain and reject_unknown_recipient_domain:
// it has no MX record and no address (NXDOMAIN, or no record of those
// types; RFC 5321 §5.1), or it publishes a null MX (RFC 7505 §3), so a
// report to that sender could never be delivered. Nothing is asked about
// an empty domain (the null sender) or an address literal. A failed
// look-up is not unknown: it goes to note and the condition does not
// hold (fail open, where Postfix answers 450).
func unknownDomain(ctx context.Context, r domainResolver, domain string, note func(string)) (why string, null, ok bool) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return "", false, false
	}
	mxs, err := r.LookupMX(ctx, d)
	switch {
	case errors.Is(err, dnsresolve.ErrNullMX):
		return fmt.Sprintf("domain %s publishes a null MX", d), true, true
	case err != nil && !dnsresolve.IsNotFound(err):
		note(fmt.Sprintf("unknown_domain: %s: %v", d, err))
		return "", false, false
	case err == nil && len(mxs) > 0:
		return "", false, false
	}
	addrs, err := r.LookupIP(ctx, d)
	switch {
	case err != nil && !dnsresolve.IsNotFound(err):
		note(fmt.Sprintf("unknown_domain: %s: %v", d, err))
		return "", false, false
	case len(addrs) > 0:
		return "", false, false
	}
	return fmt.Sprintf("domain %s has no MX or address record", d), false, true
}

// unknownDomainReply is the reply of a reject rule without its own, in
// Postfix's words and codes: a domain not found is a bad sender's (X.1.8)
// or destination's (X.1.2) system address (RFC 3463 §3.2); a null MX gets
// the codes RFC 7505 registers (§6), 550 5.7.27 for a sender (§4.2) and
// 556 5.1.10 for a recipient (§3), as Postfix's nullmx_reject_code does.
func unknownDomainReply(hook string, null bool) sdk.Reply {
	rcpt := hook == hookRcpt
	switch {
	case null && rcpt:
		return sdk.Reply{Code: 556, Enhanced: "5.1.10", Text: "Recipient address rejected: Domain does not accept mail"}
	case null:
		return sdk.Reply{Code: 550, Enhanced: "5.7.27", Text: "Sender address rejected: Domain does not accept mail"}
	case rcpt:
		return sdk.Reply{Code: 550, Enhanced: "5.1.2", Text: "Recipient address rejected: Domain not found"}
	}
	return sdk.Reply{Code: 550, Enhanced: "5.1.8", Text: "Sender address rejected: Domain not found"}
}
