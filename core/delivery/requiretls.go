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
	// 4.7.10: the MX records are not DNSSEC-validated and the MTA-STS
	// policy that might list the hosts could not be had this time.
	rtlsSTSUnavailable = reply.Reply{Code: 451, Enhanced: [3]int{4, 7, 10}, Text: "REQUIRETLS needed: MX records not DNSSEC-validated and the MTA-STS policy could not be had, will retry"}
)

// errNoREQUIRETLS is a server that did not advertise REQUIRETLS after
// STARTTLS.
var errNoREQUIRETLS = errors.New("REQUIRETLS not offered after STARTTLS")

type requireTLSKey struct{}

// requireTLSState is what one destination's attempt of a REQUIRETLS
// message learnt of the domain's MTA-STS policy, so that it is asked for
// once (a failed fetch asked for twice counted twice in a TLS report).
type requireTLSState struct {
	stsAsked bool
	sts      *stsPolicy
	stsErr   error
}

// withRequireTLS marks an attempt's context as delivering a message
// received with REQUIRETLS.
func withRequireTLS(ctx context.Context) context.Context {
	return context.WithValue(ctx, requireTLSKey{}, &requireTLSState{})
}

func requireTLSFrom(ctx context.Context) bool {
	return requireTLSStateFrom(ctx) != nil
}

func requireTLSStateFrom(ctx context.Context) *requireTLSState {
	st, _ := ctx.Value(requireTLSKey{}).(*requireTLSState)
	return st
}

// noteSTS keeps applySTS's answer for requireTLSHops.
func noteSTS(ctx context.Context, p *stsPolicy, err error) {
	if st := requireTLSStateFrom(ctx); st != nil {
		st.stsAsked, st.sts, st.stsErr = true, p, err
	}
}

// requireTLSPolicy is domain's MTA-STS policy for validating MX hosts
// (RFC 8689 §4.2.1 point 1, RFC 8461 §4.1): applySTS's where it ran, else
// fetched (and cached) here whatever [delivery] mta_sts says, since the
// check is REQUIRETLS's own. With mta_sts off the policy is not the
// operator's to report on: a failed fetch is not counted in a TLS report.
// err is a lookup's or fetch's failure.
func (a *Agent) requireTLSPolicy(ctx context.Context, domain string) (*stsPolicy, error) {
	st := requireTLSStateFrom(ctx)
	if st != nil && st.stsAsked {
		return st.sts, st.stsErr
	}
	p, err := a.stsPolicy(ctx, domain, a.rt.opt.MTASTS)
	noteSTS(ctx, p, err)
	return p, err
}

// stsNotAPolicy reports whether err is a policy fetched that is not a
// valid one (a TLS report's sts-policy-invalid). RFC 8461 §3.2 and §5.1
// make it no policy, as no _mta-sts record is: the domain published
// nothing a later attempt could read differently until its operator
// fixes it, so REQUIRETLS returns the message (5.7.10) rather than hold
// it for the queue's lifetime. A fetch that failed (HTTP status, the
// connection, the certificate) may succeed next time and defers.
func stsNotAPolicy(err error) bool {
	var inv *stsInvalid
	return errors.As(err, &inv)
}

// requireTLSHops keeps the hops a REQUIRETLS message may go to, each with
// a policy that verifies the certificate and asks for the extension.
func (a *Agent) requireTLSHops(ctx context.Context, d *destination, hops []hop) ([]hop, *outcome) {
	var kept []hop
	var stsErr error // the policy could not be had
	stsAsked, listed := false, func(string) bool { return false }
	for _, h := range hops {
		if h.lmtp != "" {
			kept = append(kept, h)
			continue
		}
		if h.mx && !h.mxSecure && (h.tls.sts == "" || h.tls.rptNotInPolicy) {
			// Not validated by DNSSEC nor by the MTA-STS policy applied
			// (applySTS did not run: mta_sts off, a route's own tls=;
			// or it found no policy): ask the policy.
			if !stsAsked {
				p, err := a.requireTLSPolicy(ctx, d.domain)
				switch {
				case p != nil && p.mode != "none":
					listed = p.matches
				case p == nil:
					stsErr = err
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
	if len(kept) == 0 && stsErr != nil && !stsNotAPolicy(stsErr) {
		// The domain may have a policy listing its MX hosts that this
		// attempt could not have (a failed TXT lookup, an announced
		// policy not fetched): only its absence is final.
		a.log.Warn("delivery: REQUIRETLS: MX records not DNSSEC-validated and the MTA-STS policy could not be had; will retry",
			"domain", d.domain, "err", stsErr)
		o := temporary(rtlsSTSUnavailable.With(d.domain + ": " + stsErr.Error()).Error())
		return nil, &o
	}
	if len(kept) == 0 {
		why := d.domain
		if stsErr != nil {
			why += ": " + stsErr.Error() // not a valid policy: none
		}
		o := permanent(rtlsInsecureMX.With(why))
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
