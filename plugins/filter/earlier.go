package filter

import (
	"context"
	"slices"

	"github.com/sluice-mta/sluice/sdk"
)

// earlierHits returns the add_header, redirect and bcc rules of the
// connect, helo, mail and rcpt hooks that the data hook acts on: those
// that matched at their hook, as decided recorded them. A hook this
// process has no record of (it started after it, or the record was
// dropped) has its rules evaluated again, from the session and the
// envelope as the data hook sees them, and the reason says so when one
// matched.
func (p *Plugin) earlierHits(ctx context.Context, s *scope) []hit {
	e := p.decided.take(&s.txn.Session)
	if e == nil {
		e = &earlierRecord{}
	}
	var out []hit
	again := false
	replay := func(hook string) {
		_, a := p.evaluate(ctx, p.replay[hook], s)
		out = append(out, a...)
		again = again || slices.ContainsFunc(a, func(h hit) bool { return h.r.atData() })
	}
	for _, h := range []struct {
		hook  string
		known bool
		hits  []hit
	}{{hookConnect, e.connectKnown, e.connect}, {hookHelo, e.heloKnown, e.helo}, {hookMail, e.mailKnown, e.mail}} {
		if h.known {
			out = append(out, h.hits...)
		} else {
			replay(h.hook)
		}
	}
	if e.rcptsKnown {
		hs, skipped := e.rcptHits(s.txn.Envelope.Rcpts)
		out = append(out, hs...)
		s.note(skipped)
	} else if p.replay[hookRcpt] != nil {
		for _, r := range s.txn.Envelope.Rcpts {
			s.rcpt = r.Addr
			replay(hookRcpt)
		}
		s.rcpt = ""
	}
	if again {
		s.note("rules of hooks before data evaluated again at data: this process kept no record of them (it was started since, or the record was dropped)")
	}
	return out
}

// rcptHits is what the recipients' rules decided, for the envelope the
// data hook has. The last recipient recorded is taken when it is still a
// recipient, when a recipient's ORCPT names it (an alias expanded at
// data, RFC 3461 §5.2.7), or when it was the first: the client could not
// have sent DATA without it. Otherwise a stage after the filter may have
// refused it, and its rules are not acted on; skipped says which.
func (e *earlierRecord) rcptHits(rcpts []sdk.Recipient) (hs []hit, skipped string) {
	for _, r := range e.rcpts {
		hs = append(hs, r.hits...)
	}
	p := e.pending
	if p == nil {
		return hs, ""
	}
	if p.first || hasRcpt(rcpts, p.addr) || slices.ContainsFunc(rcpts, func(r sdk.Recipient) bool { return namesOriginal(r, p.addr) }) {
		return append(hs, p.hits...), ""
	}
	return hs, "recipient <" + p.addr + "> matched at rcpt is not a recipient at data (another stage refused it, or rewrote it without ORCPT): its rules not acted on"
}
