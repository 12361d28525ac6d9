package main

import (
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// fallbackRelay writes [delivery] fallback_relay from smtp_fallback_relay
// (fallback_relay before Postfix 2.3, and its default since): the same
// hops in order, each with the TLS level Postfix's smtp applies to it
// (smtpHop, as for the relay). Postfix looks up the MX of a hop written
// without brackets, where Sluice dials its own addresses, as for
// relayhost. A hop Sluice cannot dial, one listed twice and the relay
// itself are left out, with why; relay is [delivery] relay as written
// ("" for none).
func (im *importer) fallbackRelay(b *strings.Builder, relay string) {
	p := im.p
	param := "smtp_fallback_relay"
	switch {
	case p.set(param):
		if p.set("fallback_relay") {
			im.note("fallback_relay", "smtp_fallback_relay is set, which Postfix uses instead")
		}
	case p.set("fallback_relay"):
		param = "fallback_relay"
	default:
		return
	}
	def := pfTransportName(p.value("default_transport"))
	seen := map[string]bool{}
	if k, ok := pfHopKey(strings.TrimPrefix(relay, "smtp:")); ok {
		seen[k] = true
	}
	var hops []string
	bare := false
	for _, hop := range pfList(p.take(param)) {
		k, ok := pfHopKey(hop)
		r := im.smtpHop(hop, def)
		_, err := delivery.ParseRoute(r)
		switch {
		case !ok || err != nil:
			im.noteAt(param+" = "+hop, "not a next hop Sluice can dial (host, [host], host:port or [host]:port)")
			continue
		case seen[k]:
			im.noteAt(param+" = "+hop, "the relay, or an earlier fallback relay: tried once")
			continue
		}
		seen[k] = true
		bare = bare || !strings.HasPrefix(hop, "[")
		if r == "smtp:"+hop {
			r = hop
		}
		hops = append(hops, r)
	}
	if len(hops) == 0 {
		return
	}
	from := param
	if bare {
		from += " (Postfix looks up the MX of a host without brackets, Sluice dials its own addresses)"
	}
	if strings.Contains(strings.Join(hops, " "), "?tls=") {
		from += ", smtp_tls_security_level = " + p.value("smtp_tls_security_level")
	}
	kv(b, from+"; for MX and relay mail only, where Postfix's serves transport_maps' smtp next hops too", "fallback_relay", tomlStrs(hops))
}

// pfHopKey is the host and port a relayhost-style next hop dials (25 when
// it names none), to spot one written twice; ok is false for a hop
// Sluice cannot dial.
func pfHopKey(hop string) (string, bool) {
	hop, _, _ = strings.Cut(hop, "?")
	host, port, err := config.SplitRelay(hop)
	if err != nil || hop == "" {
		return "", false
	}
	if port == 0 {
		port = 25
	}
	return config.JoinRelay(strings.ToLower(strings.TrimSuffix(host, ".")), port), true
}
