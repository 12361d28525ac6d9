package daemon

import (
	"fmt"
	"os"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// fallbackRoutes is [delivery] fallback_relay as the agent's routes, each
// parsed as the relay is (deliveryOptions): one written as an smtp: route
// has its tls= and authfile= checked and its files resolved against the
// config file and found, or the error is at the key's line.
func fallbackRoutes(c *config.Config) ([]delivery.Route, error) {
	var out []delivery.Route
	for _, s := range c.Delivery.FallbackRelay {
		spec := s
		if !config.RelayIsRoute(spec) {
			spec = "smtp:" + spec
		}
		rt, err := delivery.ParseRoute(spec)
		if err != nil {
			return nil, c.KeyError("delivery", -1, "fallback_relay", err)
		}
		for _, f := range []*string{&rt.AuthFile, &rt.CAFile} {
			if *f == "" {
				continue
			}
			*f = c.Resolve(*f)
			if _, err := os.Stat(*f); err != nil {
				return nil, c.KeyError("delivery", -1, "fallback_relay", fmt.Errorf("fallback_relay %q: %w", s, err))
			}
		}
		out = append(out, rt)
	}
	return out, nil
}
