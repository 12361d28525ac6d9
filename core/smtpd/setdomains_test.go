package smtpd

import (
	"net/netip"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// SetDomains (a reload) applies to sessions already open, at their next
// RCPT: a domain added to local_domains is accepted, and relay_networks
// granted and then withdrawn lets the client relay and then stops it. The
// caller's config may change afterwards without touching the server's.
func TestSetDomainsAppliesToOpenSessions(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@new.example>", "554 5.7.1 Relay access denied")

	next := *h.cfg
	next.LocalDomains = append([]string{"new.example"}, h.cfg.LocalDomains...)
	h.srv.SetDomains(&next)
	next.LocalDomains[0] = "changed.example" // the server keeps its own copy
	d.cmd("RCPT TO:<x@new.example>", "250 2.0.0 I'll make sure <x@new.example> gets this")
	d.cmd("RCPT TO:<y@elsewhere.example>", "554 5.7.1 Relay access denied")

	relay := next
	relay.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}
	h.srv.SetDomains(&relay)
	d.cmd("RCPT TO:<y@elsewhere.example>", "250 2.0.0 I'll make sure <y@elsewhere.example> gets this")

	h.srv.SetDomains(h.cfg)
	d.cmd("RCPT TO:<z@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<x2@new.example>", "554 5.7.1 Relay access denied")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()
	m, _ := h.only()
	if len(m.Rcpts) != 2 || m.Rcpts[0].Addr != "x@new.example" || m.Rcpts[1].Addr != "y@elsewhere.example" {
		t.Errorf("recipients %+v, want x@new.example and y@elsewhere.example", m.Rcpts)
	}
}

// The policy (the pipeline's stages, as sdk.Session.RelayClient) learns
// whether the client was in relay_networks when it connected.
func TestSessionInfoRelayClient(t *testing.T) {
	for _, tc := range []struct {
		nets string
		want bool
	}{{"127.0.0.0/8", true}, {"192.0.2.0/24", false}} {
		p := &testPolicy{}
		h := start(t, func(o *Options) {
			o.Config.RelayNetworks = []config.Prefix{{Prefix: netip.MustParsePrefix(tc.nets)}}
			o.Policy = p
		})
		d := h.dial()
		d.ehlo()
		p.mu.Lock()
		got := p.lastInfo.RelayClient
		p.mu.Unlock()
		if got != tc.want {
			t.Errorf("relay_networks %s: RelayClient %v, want %v", tc.nets, got, tc.want)
		}
	}
}
