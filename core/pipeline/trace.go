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
}

// Trace is a message's whole trace as stored and served.
type Trace struct {
	ID      string       `json:"id"`
	Entries []TraceEntry `json:"entries"`
	Outcome string       `json:"outcome"`
}
