package config

import "fmt"

// ReceivedMode is a listener's received key: how much of the client the
// Received field Sluice prepends to each message shows.
type ReceivedMode string

// received values; left out, the listener's is ReceivedFull.
const (
	// ReceivedFull writes the from clause: the HELO name, the client's
	// verified name and its address (RFC 5321 §4.4).
	ReceivedFull ReceivedMode = "full"
	// ReceivedHideClient leaves the from clause out for an authenticated
	// session, so a user submitting from home or a phone does not hand
	// every recipient their address, as Postfix's pickup writes "by HOST"
	// alone for local mail; an unauthenticated session's stays full.
	ReceivedHideClient ReceivedMode = "hide-client"
)

// HidesClient reports whether an authenticated session's Received field
// leaves the client out.
func (m ReceivedMode) HidesClient() bool { return m == ReceivedHideClient }

// checkReceived refuses a received value other than the two, an
// explicit "" included: left out is how to say full by default.
func (c *Config) checkReceived(f finder, i int, l Listener) error {
	switch l.Received {
	case ReceivedFull, ReceivedHideClient:
		return nil
	case "":
		if !c.written("listener", fmt.Sprint(i), "received") {
			return nil
		}
	}
	return f.err("listener", i, "received", fmt.Sprintf("received = %q: want %q or %q", string(l.Received), ReceivedFull, ReceivedHideClient))
}
