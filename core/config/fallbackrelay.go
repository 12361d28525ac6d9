package config

import (
	"fmt"
	"strings"
)

// FallbackRelays are Postfix's smtp_fallback_relay: next hops for MX (and
// relay) mail its own hosts did not take, tried in order (the delivery
// agent's fallback.go says when).
type FallbackRelays struct {
	// FallbackRelay lists them, each written as relay may be: host:port,
	// [host]:port, [host] or host (on [delivery] port), or an smtp: route
	// with tls= and authfile= (checked whole by the delivery agent's
	// route parser at start).
	FallbackRelay []string `toml:"fallback_relay"`
}

// validateFallbackRelay checks [delivery] fallback_relay: each entry a
// relay, none listed twice nor the relay itself (the fallback is for when
// it fails), a host and port named in any spelling being one.
func (c *Config) validateFallbackRelay(f finder) error {
	if len(c.Delivery.FallbackRelay) == 0 {
		c.Delivery.FallbackRelay = nil // [] is none, as the key left out
	}
	d := c.Delivery
	relay, _ := relayHop(d.Relay, d.Port)
	seen := map[string]bool{}
	for i, s := range d.FallbackRelay {
		bad := func(why string) error {
			return f.err("delivery", -1, "fallback_relay", fmt.Sprintf("fallback_relay[%d] = %q: %s", i, s, why))
		}
		hop, err := relayHop(s, d.Port)
		switch {
		case err != nil:
			return bad(err.Error())
		case hop == relay:
			return bad("it is [delivery] relay, which the fallback relays stand in for")
		case seen[hop]:
			return bad("listed twice")
		}
		seen[hop] = true
	}
	return nil
}

// relayHop is the host:port a relay written s ("" for none) dials, the
// host lowercased, port when it names none.
func relayHop(s string, port int) (string, error) {
	if s == "" {
		return "", nil
	}
	addr := s
	if RelayIsRoute(s) {
		addr, _, _ = strings.Cut(strings.TrimPrefix(s, "smtp:"), "?")
	}
	host, p, err := SplitRelay(addr)
	if err != nil {
		return "", err
	}
	if p == 0 {
		p = port
	}
	return JoinRelay(strings.ToLower(strings.TrimSuffix(host, ".")), p), nil
}
