package pipeline

import (
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// TraceEntry is what one stage did at one hook.
type TraceEntry struct {
	Stage     string        `json:"stage"`
	Hook      sdk.Hook      `json:"hook"`
	Action    string        `json:"action"` // a verdict, or "error" / "skipped"
	Reply     string        `json:"reply,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Edits     []string      `json:"edits,omitempty"`
	Error     string        `json:"error,omitempty"`
	OnError   string        `json:"on_error,omitempty"` // what on_error did
	Latency   time.Duration `json:"latency_ns"`
	LatencyMs float64       `json:"latency_ms"`
	Rcpt      string        `json:"rcpt,omitempty"`
	// DryRun: the stage is in dry run, and what the entry says it did
	// was not applied (dryrun.go).
	DryRun bool `json:"dry_run,omitempty"`
}

// Trace is a message's whole trace as stored and served: what the stages
// did at reception, then one event per delivery attempt of a destination.
type Trace struct {
	ID         string          `json:"id"`
	Entries    []TraceEntry    `json:"entries"`
	Outcome    string          `json:"outcome"`
	Deliveries []DeliveryEvent `json:"deliveries,omitempty"` // appended by delivery, in order
}

// DeliveryEvent is one delivery attempt of one destination.
type DeliveryEvent struct {
	Time        time.Time `json:"time"`
	Attempt     int       `json:"attempt"` // the message's attempt number, from 1
	Destination string    `json:"destination"`
	Via         string    `json:"via,omitempty"` // host[ip:port] that answered; empty when none did
	Recipients  []string  `json:"recipients"`
	Result      string    `json:"result"` // delivered, deferred, failed or mixed
	Reply       string    `json:"reply,omitempty"`
	// TLS is the session's protocol version ("TLS1.3"), "none" for
	// plaintext, or empty when not known (a pooled session, a relay).
	TLS string `json:"tls,omitempty"`
	// MTASTS is the recipient domain's MTA-STS (RFC 8461) policy mode and
	// what came of it: "enforce: ok", "testing: certificate not verified",
	// "none" when the domain has no policy; empty when MTA-STS did not apply.
	MTASTS string `json:"mta_sts,omitempty"`
	// SoftBounce are the recipients that failed for good and that
	// soft_bounce deferred instead.
	SoftBounce []string `json:"soft_bounce,omitempty"`
	// Fallback names the fallback relays ([delivery] fallback_relay) the
	// attempt tried, comma-separated, after the destination's own hosts
	// did not take the recipients; Via is then the last one's server.
	Fallback string `json:"fallback_relay,omitempty"`
	// Stages, in the event of destination "deliver hook", is what the
	// stages asked at the deliver hook did to the recipients it names:
	// those a stage refused, discarded, quarantined or failed on.
	Stages []TraceEntry `json:"stages,omitempty"`
}
