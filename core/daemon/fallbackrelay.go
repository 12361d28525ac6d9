package daemon

import (
	"fmt"
	"os"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// fallbackRoutes is [delivery] fallback_relay as the agent's routes, each
// parsed as the relay is (relayRoute).
func fallbackRoutes(c *config.Config) ([]delivery.Route, error) {
	var out []delivery.Route
	for _, s := range c.Delivery.FallbackRelay {
		spec := s
		if !config.RelayIsRoute(spec) {
			spec = "smtp:" + spec
		}
		rt, err := relayRoute(c, "fallback_relay", spec)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return out, nil
}

// relayRoute parses spec, [delivery] key's next hop as an smtp: route (the
// relay, a fallback relay): its tls= and authfile= are checked, and their
// files resolved against the config file and found; an error is at the
// key's line.
func relayRoute(c *config.Config, key, spec string) (delivery.Route, error) {
	rt, err := delivery.ParseRoute(spec)
	if err != nil {
		return rt, c.KeyError("delivery", -1, key, err)
	}
	for _, f := range []*string{&rt.AuthFile, &rt.CAFile} {
		if *f == "" {
			continue
		}
		*f = c.Resolve(*f)
		if _, err := os.Stat(*f); err != nil {
			return rt, c.KeyError("delivery", -1, key, fmt.Errorf("%s %q: %w", key, spec, err))
		}
	}
	return rt, nil
}
