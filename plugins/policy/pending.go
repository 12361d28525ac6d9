package policy

import (
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// actions are the PREPEND, REDIRECT and BCC answers that act on the
// message, at the data hook: Postfix's smtpd keeps them with the
// transaction (state->prepend, saved_redirect, saved_bcc) and its
// cleanup applies them to the message queued.
type actions struct {
	prepend  []sdk.Header
	redirect string // the last REDIRECT wins, as in Postfix
	bcc      []string
}

func (a *actions) add(o outcome) {
	a.prepend = append(a.prepend, o.prepend...)
	if o.redirect != "" {
		a.redirect = o.redirect
	}
	a.bcc = append(a.bcc, o.bcc...)
}

func (a *actions) merge(b actions) {
	a.add(outcome{prepend: b.prepend, redirect: b.redirect, bcc: b.bcc})
}

func (a *actions) empty() bool {
	return len(a.prepend) == 0 && a.redirect == "" && len(a.bcc) == 0
}

// edits are a's edits of t's message: the PREPENDed fields at the top in
// the order answered (above Sluice's Received field, where Postfix's
// smtpd writes them before its own), every recipient replaced by the
// REDIRECT address, then each BCC address that is not a recipient yet,
// with NOTIFY=NEVER (RFC 3461 §4.1), as Postfix adds it "as if
// NOTIFY=NONE" (access(5)). Addresses compare without case, as the
// core's recipient edits do.
func (a *actions) edits(t *sdk.Txn) []sdk.Edit {
	var out []sdk.Edit
	for i, h := range a.prepend {
		out = append(out, sdk.InsertHeader{Index: i, Name: h.Name, Value: h.Value})
	}
	have := map[string]bool{}
	if a.redirect != "" {
		for _, r := range t.Envelope.Rcpts {
			if k := strings.ToLower(r.Addr); !have[k] {
				have[k] = true
				out = append(out, sdk.RemoveRecipient{Addr: r.Addr})
			}
		}
		// Added after the removals, so that it stays when it was one.
		out = append(out, sdk.AddRecipient{Addr: a.redirect})
		have = map[string]bool{strings.ToLower(a.redirect): true}
	} else {
		for _, r := range t.Envelope.Rcpts {
			have[strings.ToLower(r.Addr)] = true
		}
	}
	for _, b := range a.bcc {
		if k := strings.ToLower(b); !have[k] {
			have[k] = true
			out = append(out, sdk.AddRecipient{Addr: b, Params: map[string]string{"NOTIFY": "NEVER"}})
		}
	}
	return out
}

// records keeps, per SMTP session, the actions answered before the data
// hook and the connection its last request went on. The actions of
// connect and helo last the session, as a DISCARD there does in the
// core; those of mail and rcpt their transaction (Session.Transaction:
// the core tells a plugin nothing of RSET, and a new number is a new
// transaction). The disconnect hook ends a session's record; one not
// heard of for recordTTL, or the least recently heard of past
// maxRecords, is forgotten, a bound for sessions whose end is not told.
type records struct {
	now func() time.Time

	mu    sync.Mutex
	m     map[string]*record
	swept time.Time
}

const (
	recordTTL  = time.Hour // far past RFC 5321 §4.5.3.2's timeouts
	maxRecords = 100_000
)

type record struct {
	seen    time.Time
	conn    *conn // the last request's, asked again first
	session actions
	txnNo   int
	txn     actions
}

func newRecords(now func() time.Time) *records {
	return &records{now: now, m: map[string]*record{}}
}

// get returns id's record, a new one when there is none. Called with
// r.mu held.
func (r *records) get(id string) *record {
	now := r.now()
	if rec, ok := r.m[id]; ok && now.Sub(rec.seen) < recordTTL {
		rec.seen = now
		return rec
	}
	r.bound(now)
	rec := &record{seen: now}
	r.m[id] = rec
	return rec
}

// bound drops the records not heard of for recordTTL, at most every
// quarter of it or when full, then, while still full, an eighth of them
// (the map's order: any will do, each only loses a PREPEND or so).
func (r *records) bound(now time.Time) {
	if now.Sub(r.swept) < recordTTL/4 && len(r.m) < maxRecords {
		return
	}
	r.swept = now
	for id, rec := range r.m {
		if now.Sub(rec.seen) >= recordTTL {
			delete(r.m, id)
		}
	}
	for id := range r.m {
		if len(r.m) < maxRecords-maxRecords/8 {
			break
		}
		delete(r.m, id)
	}
}

// keep records o, answered at state for session s.
func (r *records) keep(s *sdk.Session, state string, o outcome) {
	if o.prepend == nil && o.redirect == "" && o.bcc == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.get(s.ID)
	switch state {
	case stateConnect, stateHelo:
		rec.session.add(o)
	default:
		rec.txnOf(s.Transaction).add(o)
	}
}

// txnOf is the record's actions of transaction n, empty for a new one.
func (rec *record) txnOf(n int) *actions {
	if rec.txnNo != n {
		rec.txnNo, rec.txn = n, actions{}
	}
	return &rec.txn
}

// take returns the actions for s's message at the data hook, and ends
// its transaction's.
func (r *records) take(s *sdk.Session) actions {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.m[s.ID]
	if !ok {
		return actions{}
	}
	var a actions
	a.merge(rec.session)
	a.merge(*rec.txnOf(s.Transaction))
	rec.txn = actions{}
	return a
}

// conn is the connection session id's last request went on.
func (r *records) conn(id string) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.m[id]; ok {
		return rec.conn
	}
	return nil
}

// used notes that session id's request went on c.
func (r *records) used(id string, c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(id).conn = c
}

// end forgets session id.
func (r *records) end(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}
