package admin

import (
	"encoding/json"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// MaxPageBytes bounds the JSON of the messages one GET /api/queue page
// holds, as MaxPageSize bounds their number: a message may carry up to
// max_recipients recipients, each with a remote server's reply, so 10,000
// of them could make a page of gigabytes, built in the daemon's memory and
// read whole by the client. A page that reaches it ends early with Next
// set; it always holds at least one message, so paging goes on.
const MaxPageBytes = 8 << 20

// queuePage is a QueueList as the handler builds it: each message encoded
// once, as it is added, so that the page's size is known while it grows.
// Its JSON is QueueList's.
type queuePage struct {
	Counts    map[envelope.State]int `json:"counts"`
	Domains   map[string]int         `json:"domains"`
	OldestAge float64                `json:"oldest_age_seconds"`
	Messages  []json.RawMessage      `json:"messages"`
	Next      string                 `json:"next,omitempty"`

	bytes int // of Messages
}

// add appends m unless m would take the page's messages over maxBytes;
// it reports whether m went in.
func (p *queuePage) add(m *envelope.Message, maxBytes int) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	if len(p.Messages) > 0 && p.bytes+len(b) > maxBytes {
		return false, nil
	}
	p.bytes += len(b)
	p.Messages = append(p.Messages, b)
	return true, nil
}

// oldestAge is the age in seconds of oldest by now, 0 for an empty queue.
func oldestAge(oldest, now time.Time) float64 {
	if oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest).Seconds(), 0)
}
