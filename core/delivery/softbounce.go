package delivery

import "github.com/sluice-mta/sluice/core/envelope"

// soft_bounce (Options.SoftBounce, Postfix's soft_bounce) keeps queued
// what would be returned: a recipient that fails for good — a 5xx from
// the next hop, a domain with no mail host, the deliver hook's refusal —
// is deferred instead, its reply kept as LastReply, and tried again on
// the retry schedule. No report goes out. Mail past max_age is kept too,
// as Postfix's bounce_flush refuses to return it under soft_bounce. An
// administrator's bounce (sluice queue bounce) is not turned: it is asked
// for.

// softBounce defers, under soft_bounce, the recipients of res that
// failed for good, marking them so that the log and the trace say so. It
// returns them, for the caller whose log line does not name them.
func (a *Agent) softBounce(res map[string]outcome) []string {
	if !a.softBounceOn {
		return nil
	}
	var kept []string
	for addr, o := range res {
		if o.status == envelope.RcptFailed {
			o.status, o.softBounced = envelope.RcptPending, true
			res[addr] = o
			kept = append(kept, addr)
		}
	}
	return kept
}

// softBouncedRcpts are the recipients of res that soft_bounce kept.
func softBouncedRcpts(rcpts []string, res map[string]outcome) []string {
	var kept []string
	for _, addr := range rcpts {
		if res[addr].softBounced {
			kept = append(kept, addr)
		}
	}
	return kept
}
