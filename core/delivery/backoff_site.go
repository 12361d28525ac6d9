package delivery

import "github.com/sluice-mta/sluice/core/envelope"

// ForgetSiteBackoff clears the backoff of the destinations m's pending
// recipients in domain (an envelope.Site) go to, as grouping for an
// attempt finds them: the domain itself for MX mail, the relay when
// relaying, a route's next hop, and for the first two the fallback
// relays, which take what their hosts defer. A flush of one domain calls it for each
// message it makes due, so that those recipients are tried at once while
// every other destination keeps its backoff (ForgetBackoffs forgets all).
func (a *Agent) ForgetSiteBackoff(m *envelope.Message, domain string) {
	var rcpts []*envelope.Recipient
	for _, r := range m.Pending() {
		if envelope.Site(r.Addr) == domain {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return
	}
	dests, _ := a.group(rcpts)
	for _, d := range dests {
		a.rt.backoff.forget(d.key)
		if d.mayFallBack {
			// A fallback relay in backoff would skip them still, though
			// the operator flushed because it is back (plain flush
			// forgets it too).
			for _, rt := range a.rt.opt.Fallback {
				a.rt.backoff.forget(fallbackKey + rt.Addr)
			}
		}
	}
}

// forget clears one destination's failures and backoff.
func (b *backoffs) forget(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}
