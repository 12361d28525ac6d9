package pipeline

import (
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// Which stage set each recipient's route is kept beside the envelope (the
// sdk.Recipient a plugin sees has no such field) and queued with the
// recipient: at the deliver hook a stage may change only a route it set
// itself or one nobody set (deliveredit.go), so that a route rule applied
// to queued mail never overrides the route another stage chose for a
// message, as Postfix keeps a message's FILTER or access-map transport
// over transport_maps.

// RouteBy names the stage that set the route of recipient addr in this
// transaction, or "" when none did.
func (s *Session) RouteBy(addr string) string { return s.routeBy[strings.ToLower(addr)] }

// noteRouteBy records that stage set addr's route ("" forgets who did: a
// recipient added afresh, or removed, has no route). At the rcpt hook it
// is undone with the RCPT when that ends refused.
func (s *Session) noteRouteBy(hook sdk.Hook, addr, stage string) {
	k := strings.ToLower(addr)
	old, had := s.routeBy[k]
	if !had && stage == "" {
		return
	}
	s.putRouteBy(k, stage)
	s.record(hook, func() {
		if s.routeBy[k] == stage {
			if had {
				s.putRouteBy(k, old)
			} else {
				delete(s.routeBy, k)
			}
		}
	})
}

func (s *Session) putRouteBy(k, stage string) {
	if stage == "" {
		delete(s.routeBy, k)
		return
	}
	if s.routeBy == nil {
		s.routeBy = map[string]string{}
	}
	s.routeBy[k] = stage
}
