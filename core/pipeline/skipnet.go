package pipeline

import (
	"net/netip"

	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// A stage with skip_networks does not serve a session whose client is in
// one, as Postfix's smtpd_milter_maps turns a milter off (DISABLE) for
// some clients: it is not opened (a milter is not connected) and asked
// none of the session's hooks, as a stage another listener's is
// (listeners.go), its trace entry saying why. The client is the session's
// ClientIP as Open is given it, after PROXY or XCLIENT; XCLIENT opens the
// session anew, so the filter follows the new client. The deliver and
// bounce hooks belong to no session and ask it as any other stage.

// indexSkipNetworks lists the stages with skip_networks, so that a
// session of a pipeline without any costs nothing, and one with some a
// parse of its client and a match per such stage.
func (p *Pipeline) indexSkipNetworks() {
	for i, e := range p.entries {
		if len(e.SkipNetworks) > 0 {
			p.skipNets = append(p.skipNets, i)
		}
	}
}

// skipFor is the set of stages whose skip_networks hold client. A client
// that is no address (a test's, replay's without one) is in none.
func (p *Pipeline) skipFor(client string) stageSet {
	var out stageSet
	if len(p.skipNets) == 0 {
		return out
	}
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return out
	}
	for _, i := range p.skipNets {
		if netlist.Contains(p.entries[i].SkipNetworks, ip) {
			out.add(i)
		}
	}
	return out
}

// skipClient adds to s.notFor the stages skipping the session's client,
// remembering which for the trace (those of another listener keep their
// reason).
func (s *Session) skipClient() {
	skip := s.p.skipFor(s.txn.Session.ClientIP)
	for _, i := range s.p.skipNets {
		if skip.has(i) && !s.notFor.has(i) {
			s.notFor.add(i)
			s.clientSkipped.add(i)
		}
	}
}

// skippedEntry is the trace entry of a stage that does not serve the
// session: its listener's, or its client's.
func (s *Session) skippedEntry(e *entry, i int) TraceEntry {
	why := "not for listener " + s.txn.Session.Listener
	if s.clientSkipped.has(i) {
		why = "client in skip_networks"
	}
	return TraceEntry{Stage: e.Name, Hook: sdk.HookData, Action: "skipped", Reason: why}
}

// prefixStrings renders skip_networks for /api/pipeline.
func prefixStrings(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
