package filter

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/sdk"
)

// decisions keeps, per SMTP session, the add_header, redirect and bcc
// rules that matched at the connect, helo, mail and rcpt hooks, for the
// data hook to act on: what matched at RCPT is what is done, whatever
// the stages before the filter have made of the envelope since (a route
// alias turns ceo@ into alice@ and bob@ at data, a canonical map
// rewrites the sender), as Postfix's cleanup acts on the REDIRECT and
// BCC that smtpd's access restrictions decided. The rules are evaluated
// again at data only for the hooks this process has no record of (it
// was started after them).
//
// The core tells a plugin nothing of RSET, and does not ask it at a MAIL
// or RCPT a stage before it accepted; each call says which transaction of
// the session it is of (sdk.Session's Transaction), and the record of one
// is never taken for another's. A MAIL, a HELO or the data hook ends the
// transaction's record too, and the disconnect hook the session's (end).
// A session not heard of for ttl is forgotten, as are the least recently
// heard of when more than max are kept: the bound for sessions whose end
// the plugin is not told of (a core older than the disconnect hook, a
// disconnect call that failed, a late call that recorded after it). A
// core older than the transaction number sends 0: the end of a
// transaction is then told from the envelopes (see rcpt).
type decisions struct {
	now func() time.Time
	ttl time.Duration
	max int

	mu       sync.Mutex
	sessions map[string]*sessionRecord
	swept    time.Time
}

// Bounds of the record: an hour since a session's last hook call is far
// past RFC 5321 §4.5.3.2's timeouts (5 minutes a command, 10 for the end
// of the data) and what all but the slowest message transfers take;
// past it, or past maxSessions, the data hook evaluates the rules again,
// as it would after a restart.
const (
	decisionsTTL = time.Hour
	maxSessions  = 100_000
)

func newDecisions(now func() time.Time) *decisions {
	return &decisions{now: now, ttl: decisionsTTL, max: maxSessions, sessions: map[string]*sessionRecord{}}
}

// sessionRecord is what one session's hooks decided. A hook not known
// is one this process was not asked about (it was started since, or a
// stage before the filter accepted at that hook): the data hook
// evaluates its rules again.
type sessionRecord struct {
	seen                    time.Time
	connect, helo           []hit
	connectKnown, heloKnown bool
	txn                     *txnRecord // nil: no MAIL seen since the last data hook
	// txnNo is the number of the transaction txn records, or recorded
	// last (0 from an older core).
	txnNo int
}

// stale reports whether a call of transaction n is of one before the
// transaction recorded: the core gave up waiting for it and the client
// went on (a RSET, a new MAIL), and it finished only now. Numbers only
// grow in a session, so what it would record is not the record's
// business; recording it would drop the later transaction's, whose next
// rcpt call would then start afresh with its recipients taken as known.
func (s *sessionRecord) stale(n int) bool { return n != 0 && n < s.txnNo }

// txnRecord is what the mail and rcpt hooks of the open transaction
// decided.
type txnRecord struct {
	mail                  []hit
	mailKnown, rcptsKnown bool
	// rcpts are the recipients whose rules matched and that the stages
	// after the filter took too: a later rcpt call's envelope has them.
	rcpts []rcptRecord
	// pending is the last recipient whose rules matched, until a later
	// call says whether the stages after the filter took it.
	pending *rcptRecord
}

type rcptRecord struct {
	addr string
	hits []hit
	// first: no recipient had been accepted before it, so a data hook
	// means it was.
	first bool
}

// earlierRecord is what the data hook acts on of the earlier hooks' rules.
type earlierRecord struct {
	connect, helo, mail []hit
	rcpts               []rcptRecord
	pending             *rcptRecord
	// The hooks whose rules matched as recorded; the others are
	// evaluated again.
	connectKnown, heloKnown, mailKnown, rcptsKnown bool
}

// session returns id's record, a new one when there is none (or it
// expired); created says so. Called with d.mu held.
func (d *decisions) session(id string) (s *sessionRecord, created bool) {
	now := d.now()
	if s, ok := d.sessions[id]; ok && now.Sub(s.seen) < d.ttl {
		s.seen = now
		return s, false
	}
	delete(d.sessions, id)
	d.bound(now)
	s = &sessionRecord{seen: now}
	d.sessions[id] = s
	return s, true
}

// bound drops the sessions not heard of for ttl, at most every ttl/4 or
// when the record is full, then, while it is still full, the least
// recently heard of eighth. Called with d.mu held.
func (d *decisions) bound(now time.Time) {
	if now.Sub(d.swept) < d.ttl/4 && len(d.sessions) < d.max {
		return
	}
	d.swept = now
	for id, s := range d.sessions {
		if now.Sub(s.seen) >= d.ttl {
			delete(d.sessions, id)
		}
	}
	if len(d.sessions) < d.max {
		return
	}
	ids := make([]string, 0, len(d.sessions))
	for id := range d.sessions {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return d.sessions[a].seen.Compare(d.sessions[b].seen) })
	for _, id := range ids[:len(ids)-d.max+max(d.max/8, 1)] {
		delete(d.sessions, id)
	}
}

// atData keeps the hits whose action is taken at data.
func atData(hs []hit) []hit {
	var out []hit
	for _, h := range hs {
		if h.r.atData() {
			out = append(out, h)
		}
	}
	return out
}

// refusing reports whether v refuses what its hook was asked about.
func refusing(v sdk.Verdict) bool {
	return v.Action == sdk.ActionReject || v.Action == sdk.ActionTempfail
}

// connect starts the session's record; a refused connection has none.
func (d *decisions) connect(id string, v sdk.Verdict, hs []hit) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A connect hook starts the record afresh.
	delete(d.sessions, id)
	if refusing(v) {
		return
	}
	s, _ := d.session(id)
	s.connect, s.connectKnown = atData(hs), true
}

// helo records the HELO's rules, and ends the transaction (RFC 5321
// §4.1.4: EHLO resets it), but for a stale call's: a later one began
// after it.
func (d *decisions) helo(sess *sdk.Session, v sdk.Verdict, hs []hit) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _ := d.session(sess.ID)
	if !s.stale(sess.Transaction) {
		s.txn = nil
	}
	s.helo, s.heloKnown = nil, true
	if !refusing(v) {
		s.helo = atData(hs)
	}
}

// mail starts a transaction, numbered sess.Transaction. A call that
// comes after a rcpt call of its own transaction (the core gave up
// waiting for it, went on, and it finished later) keeps what that rcpt
// recorded; one that comes after a later transaction began records
// nothing.
func (d *decisions) mail(sess *sdk.Session, v sdk.Verdict, hs []hit) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _ := d.session(sess.ID)
	n := sess.Transaction
	if s.stale(n) {
		return
	}
	if refusing(v) && n == 0 {
		// An older core's next transaction may have had a MAIL the
		// filter was not asked about: nothing is known of it.
		s.txn = nil
		return
	}
	if n == 0 || s.txn == nil || s.txnNo != n {
		s.txn, s.txnNo = &txnRecord{rcptsKnown: true}, n
	}
	s.txn.mail, s.txn.mailKnown = nil, true
	if !refusing(v) {
		s.txn.mail = atData(hs)
	}
}

// rcpt records addr's rules. t's envelope has the recipients accepted so
// far: the last one recorded is known to be taken when it is among them.
// A record of another transaction than t's is not this one's; from an
// older core, which numbers no transaction, a recorded recipient missing
// from the envelope says so (a MAIL this stage was not asked about after
// a RSET). A stale call records nothing.
func (d *decisions) rcpt(t *sdk.Txn, addr string, v sdk.Verdict, hs []hit) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rcpts := t.Envelope.Rcpts
	s, created := d.session(t.Session.ID)
	n := t.Session.Transaction
	if s.stale(n) {
		return
	}
	tx := s.txn
	if tx != nil && s.txnNo != n {
		tx = nil
	}
	if tx != nil && tx.pending != nil && hasRcpt(rcpts, tx.pending.addr) {
		tx.rcpts = append(tx.rcpts, *tx.pending)
	}
	if tx != nil {
		tx.pending = nil
		if n == 0 && slices.ContainsFunc(tx.rcpts, func(r rcptRecord) bool { return !hasRcpt(rcpts, r.addr) }) {
			tx = nil
		}
	}
	if tx == nil {
		// No MAIL was seen for this transaction (a stage before the
		// filter accepted it, or this process was started since): the
		// data hook evaluates the mail rules. The RCPTs before this one
		// are known when there were none.
		tx = &txnRecord{rcptsKnown: !created || len(rcpts) == 0}
		s.txn, s.txnNo = tx, n
	}
	if hs = atData(hs); !refusing(v) && len(hs) > 0 {
		tx.pending = &rcptRecord{addr: addr, hits: hs, first: len(rcpts) == 0}
	}
}

// take returns the record of sess for its data hook and ends its
// transaction; nil when there is none. A transaction recorded under
// another number is not sess's: neither its mail nor its rcpt hooks are
// known.
func (d *decisions) take(sess *sdk.Session) *earlierRecord {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.sessions[sess.ID]
	if !ok || d.now().Sub(s.seen) >= d.ttl {
		delete(d.sessions, sess.ID)
		return nil
	}
	s.seen = d.now()
	e := &earlierRecord{connect: s.connect, helo: s.helo, connectKnown: s.connectKnown, heloKnown: s.heloKnown}
	if tx := s.txn; tx != nil && s.txnNo == sess.Transaction {
		e.mail, e.mailKnown, e.rcptsKnown = tx.mail, tx.mailKnown, tx.rcptsKnown
		e.rcpts, e.pending = tx.rcpts, tx.pending
	}
	s.txn = nil
	return e
}

// end forgets session id: the core said it is over.
func (d *decisions) end(id string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.sessions, id)
}

// hasRcpt reports whether addr is one of rcpts, in any case.
func hasRcpt(rcpts []sdk.Recipient, addr string) bool {
	return slices.ContainsFunc(rcpts, func(r sdk.Recipient) bool { return strings.EqualFold(r.Addr, addr) })
}

// namesOriginal reports whether r's ORCPT (RFC 3461 §4.2) is addr.
func namesOriginal(r sdk.Recipient, addr string) bool {
	// A malformed NOTIFY= does not hide a good ORCPT=.
	_, orcpt, _ := delivery.ParseRcptParams(r.Params)
	_, a, ok := strings.Cut(orcpt, ";")
	return ok && strings.EqualFold(a, addr)
}
