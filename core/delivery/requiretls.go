package delivery

import (
	"context"
	"errors"
	"net"

	"github.com/sluice-mta/sluice/core/reply"
)

// RFC 8689 §4.2.1: a message received with REQUIRETLS goes only to a
// next hop that was looked up securely (a DNSSEC-validated MX RRset, or
// an MX host an MTA-STS policy lists), whose certificate verifies (PKIX
// for the host name, or DANE) and which advertises REQUIRETLS after
// STARTTLS; MAIL then carries the parameter. A hop failing any of these is
// given up and the next tried; when none is left the message is returned
// (§4.2.2) rather than retried. A smarthost or smtp: route is the
// operator's own choice of host, so only the certificate and the
// extension are checked there. LMTP is final delivery (RFC 8689 §4:
// the requirement covers relaying), so it goes as any other message.

// Replies a REQUIRETLS message is returned with (RFC 8689 §4.2.2).
var (
	// X.7.30: the next hop does not offer REQUIRETLS.
	rtlsNotSupported = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 30}, Text: "REQUIRETLS support required"}
	// X.7.10: no TLS session with a verified certificate could be had.
	rtlsNoTLS = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 10}, Text: "REQUIRETLS needed: no TLS session with a verified certificate"}
	// X.7.10 too: no MX host was looked up securely.
	rtlsInsecureMX = reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 10}, Text: "REQUIRETLS needed: MX records not DNSSEC-validated and no MTA-STS policy lists the MX hosts"}
)

// errNoREQUIRETLS is a server that did not advertise REQUIRETLS after
// STARTTLS.
var errNoREQUIRETLS = errors.New("REQUIRETLS not offered after STARTTLS")

type requireTLSKey struct{}

// withRequireTLS marks an attempt's context as delivering a message
// received with REQUIRETLS.
func withRequireTLS(ctx context.Context) context.Context {
	return context.WithValue(ctx, requireTLSKey{}, true)
}

func requireTLSFrom(ctx context.Context) bool {
	v, _ := ctx.Value(requireTLSKey{}).(bool)
	return v
}

// requireTLSHops keeps the hops a REQUIRETLS message may go to, each with
// a policy that verifies the certificate and asks for the extension.
func (a *Agent) requireTLSHops(ctx context.Context, d *destination, hops []hop) ([]hop, *outcome) {
	var kept []hop
	stsAsked, listed := false, func(string) bool { return false }
	for _, h := range hops {
		if h.lmtp != "" {
			kept = append(kept, h)
			continue
		}
		if h.mx && !h.mxSecure && (h.tls.sts == "" || h.tls.rptNotInPolicy) {
			// Not validated by DNSSEC nor by the MTA-STS policy applied.
			// A route's own tls= skips applySTS: ask the policy here.
			// Where applySTS ran, its answer stands: asking again
			// fetched a policy that had just failed a second time (its
			// failure counted twice in a TLS report), and a policy that
			// could not be had lists no host.
			if !stsAsked && a.rt.opt.MTASTS && d.route.TLS != "" {
				if p := a.stsPolicy(ctx, d.domain); p != nil && p.mode != "none" {
					listed = p.matches
				}
				stsAsked = true
			}
			if !listed(h.host) {
				a.log.Warn("delivery: REQUIRETLS: MX host skipped: MX records not DNSSEC-validated and no MTA-STS policy lists it",
					"domain", d.domain, "host", h.host)
				continue
			}
		}
		h.tls.requireTLS = true
		switch h.tls.mode {
		case "", TLSOpportunistic, TLSRequired:
			// DANE, where it applies (applyDANE), replaces this.
			h.tls.mode = TLSVerify
		}
		kept = append(kept, h)
	}
	if len(kept) == 0 {
		o := permanent(rtlsInsecureMX.With(d.domain))
		return nil, &o
	}
	return kept, nil
}

// requireTLSReply is the reply a REQUIRETLS message is returned with when
// err, a hop's failure, is one RFC 8689 §4.2.1 gives it up for; nil for
// other failures (connect, DNS, a timeout mid-handshake), which leave it
// waiting for the next attempt as any message.
func requireTLSReply(err error) *reply.Reply {
	var tf *tlsFailed
	var ne net.Error
	switch {
	case errors.Is(err, errNoREQUIRETLS):
		return &rtlsNotSupported
	case errors.Is(err, errNoSTARTTLS):
		return &rtlsNoTLS
	case errors.As(err, &tf) && !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		return &rtlsNoTLS
	}
	return nil
}
