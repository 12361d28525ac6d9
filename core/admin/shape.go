package admin

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The queue's shape is Postfix's qshape: the queue by recipient domain (or
// sender domain) in age buckets. Each bucket's limit is twice the one
// before, the first counting what is under 5 minutes old; the last counts
// what is older than all of them.
var shapeLimits = []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute,
	80 * time.Minute, 160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute}

// ShapeBuckets are the buckets' names, as qshape heads its columns: each
// bucket's limit in minutes, and the last "1280+".
var ShapeBuckets = []string{"5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"}

const (
	// MaxShapeDomains bounds the domains a shape keeps apart, and so its
	// memory on a queue of a million messages to as many domains: the
	// domains first seen after that many are counted in others.
	MaxShapeDomains = 10000
	// DefaultShapeTop is how many domains a shape shows without top.
	DefaultShapeTop = 20
	// shapePage is how many messages one pass of the queue reads: each
	// page is its own read of the store, so none stays open (holding
	// Pebble's memtables) over the whole queue, and a client that went
	// away stops the count at the next page.
	shapePage = 10000
)

// QueueShape is the JSON body of GET /api/queue/shape.
type QueueShape struct {
	State string `json:"state"` // active, held, quarantined or all
	By    string `json:"by"`    // recipient or sender
	// Now is the daemon's time the ages are counted to.
	Now time.Time `json:"now"`
	// Buckets names the age buckets each row's ages count, in order.
	Buckets []string `json:"buckets"`
	// Messages is how many messages of the state were counted. By
	// sender Total.Count is the same; by recipient it counts pending
	// recipients, which may be more.
	Messages int        `json:"messages"`
	Total    ShapeRow   `json:"total"`
	Domains  []ShapeRow `json:"domains"` // the busiest top, busiest first
	// Others sums the rows after the top, and every domain first seen
	// once MaxShapeDomains were kept; OtherDomains is how many of the
	// kept ones it holds.
	Others       ShapeRow `json:"others"`
	OtherDomains int      `json:"other_domains"`
	// Capped says there were more than MaxShapeDomains domains: the
	// later ones are in Others, uncounted among OtherDomains.
	Capped bool `json:"capped"`
}

// ShapeRow is one domain's line: its count and that count by age bucket.
// The null sender's row is "<>".
type ShapeRow struct {
	Domain string `json:"domain,omitempty"`
	Count  int    `json:"count"`
	Ages   []int  `json:"ages"`
}

func (r *ShapeRow) add(bucket int) {
	if r.Ages == nil {
		r.Ages = make([]int, len(ShapeBuckets))
	}
	r.Count++
	r.Ages[bucket]++
}

func (r *ShapeRow) sum(o *ShapeRow) {
	if r.Ages == nil {
		r.Ages = make([]int, len(ShapeBuckets))
	}
	r.Count += o.Count
	for i, n := range o.Ages {
		r.Ages[i] += n
	}
}

// shapeBucket is the bucket of a message received at received, by now.
// A message from the future (a clock set back) is in the first.
func shapeBucket(received, now time.Time) int {
	age := now.Sub(received)
	for i, limit := range shapeLimits {
		if age < limit {
			return i
		}
	}
	return len(shapeLimits)
}

// shapeQuery is what GET /api/queue/shape asks.
type shapeQuery struct {
	state envelope.State // "" is every state
	// deferred: active messages that have been tried at least once,
	// Postfix's deferred queue, as `qshape deferred` reads it.
	deferred bool
	bySender bool
	top      int
}

func parseShapeQuery(r *http.Request) (shapeQuery, error) {
	q := r.URL.Query()
	sq := shapeQuery{state: envelope.StateActive, top: DefaultShapeTop}
	if q.Has("state") {
		switch st := envelope.State(q.Get("state")); {
		case st == "all":
			sq.state = ""
		case st == "deferred":
			sq.state, sq.deferred = envelope.StateActive, true
		case st.Known():
			sq.state = st
		default:
			return sq, fmt.Errorf("unknown state %q: want one of %v, deferred or all", st, envelope.States)
		}
	}
	if q.Has("by") {
		switch by := q.Get("by"); by {
		case "recipient":
		case "sender":
			sq.bySender = true
		default:
			return sq, fmt.Errorf("by %q: want recipient or sender", by)
		}
	}
	if q.Has("top") {
		n, err := strconv.Atoi(q.Get("top"))
		if err != nil || n < 1 {
			return sq, fmt.Errorf("top must be a positive number")
		}
		sq.top = min(n, MaxShapeDomains)
	}
	return sq, nil
}

// shape answers GET /api/queue/shape.
func (a *api) shape(w http.ResponseWriter, r *http.Request) {
	sq, err := parseShapeQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := a.countShape(r.Context(), sq)
	if r.Context().Err() != nil {
		return // the client went away: nobody to answer
	}
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// shapeTally is a shape being counted.
type shapeTally struct {
	q      shapeQuery
	now    time.Time
	out    *QueueShape
	rows   map[string]*ShapeRow
	others ShapeRow // the domains past MaxShapeDomains
}

// add counts m: by recipient, one per pending recipient in its domain, as
// qshape counts recipients; by sender, the message once.
func (t *shapeTally) add(m *envelope.Message) {
	if t.q.state != "" && m.State != t.q.state || t.q.deferred && m.Attempts == 0 {
		return
	}
	t.out.Messages++
	b := shapeBucket(m.Received, t.now)
	if t.q.bySender {
		d := "<>"
		if m.From != "" {
			d = envelope.Site(m.From)
		}
		t.count(d, b)
		return
	}
	for i := range m.Rcpts {
		if !m.Rcpts[i].Done() {
			t.count(envelope.Site(m.Rcpts[i].Addr), b)
		}
	}
}

func (t *shapeTally) count(domain string, bucket int) {
	t.out.Total.add(bucket)
	row := t.rows[domain]
	if row == nil {
		if len(t.rows) == MaxShapeDomains {
			t.out.Capped = true
			t.others.add(bucket)
			return
		}
		row = &ShapeRow{Domain: domain}
		t.rows[domain] = row
	}
	row.add(bucket)
}

// countShape reads the queue once, a page at a time, in arrival order.
func (a *api) countShape(ctx context.Context, q shapeQuery) (*QueueShape, error) {
	by := "recipient"
	if q.bySender {
		by = "sender"
	}
	state := string(q.state)
	switch {
	case q.deferred:
		state = "deferred"
	case state == "":
		state = "all"
	}
	now := a.opt.Clock()
	t := &shapeTally{q: q, now: now, rows: map[string]*ShapeRow{},
		out: &QueueShape{State: state, By: by, Now: now, Buckets: ShapeBuckets, Domains: []ShapeRow{}}}
	t.out.Total.Ages = make([]int, len(ShapeBuckets))
	after := ""
	for {
		read, last := 0, ""
		err := a.opt.Queue.Walk(after, func(m *envelope.Message) bool {
			if read == shapePage {
				return false
			}
			read++
			last = m.ID
			t.add(m)
			return true
		})
		if err != nil {
			return nil, err
		}
		if read < shapePage {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		after = last
	}
	t.finish()
	return t.out, nil
}

// finish sorts the rows, busiest first (then by name, so that equal
// counts always come out in the same order), and sums those after the top
// into others.
func (t *shapeTally) finish() {
	rows := make([]*ShapeRow, 0, len(t.rows))
	for _, r := range t.rows {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *ShapeRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Domain, b.Domain))
	})
	others := ShapeRow{Ages: make([]int, len(ShapeBuckets))}
	others.sum(&t.others)
	for i, r := range rows {
		if i < t.q.top {
			t.out.Domains = append(t.out.Domains, *r)
			continue
		}
		others.sum(r)
		t.out.OtherDomains++
	}
	t.out.Others = others
}
