package queue

import (
	"github.com/sluice-mta/sluice/core/envelope"
)

// flushDomainPage is how many messages FlushDomain reads between the
// commits that move them: each page is its own pass of the message keys,
// so no iterator stays open (holding Pebble's memtables) over a million
// messages, and Close waits for one page, not the whole flush.
const flushDomainPage = 4096

// FlushDomain makes due now the active messages with a pending recipient
// in domain (an envelope.Site), as Postfix's postqueue -s flushes one
// site, and returns how many such messages it found due or made due. The
// others keep their schedule. found, when not nil, is called with each of
// them before it is due (for delivery to forget the domain's backoff
// first): a message already due when it is read, and one moved under its
// lock before the commit that moves it. The domain is in the envelope,
// not in the schedule index, so every message is read once, a page at a
// time, and those to move are moved flushChunk per synced commit.
func (s *Store) FlushDomain(domain string, found func(m *envelope.Message)) (int, error) {
	n, after := 0, ""
	for {
		k, last, more, err := s.flushDomainPage(domain, after, found)
		n += k
		if err != nil || !more {
			if n > 0 {
				s.wake()
			}
			return n, err
		}
		after = last
	}
}

// flushDomainPage is one page of FlushDomain: the messages after the id
// after. It returns how many it counted, the last id it read, and whether
// there may be more.
func (s *Store) flushDomainPage(domain, after string, found func(m *envelope.Message)) (n int, last string, more bool, err error) {
	if err := s.enter(); err != nil {
		return 0, "", false, err
	}
	defer s.leave()
	now := s.clock()
	var move []schedEntry
	read := 0
	err = s.Walk(after, func(m *envelope.Message) bool {
		if read == flushDomainPage {
			more = true
			return false
		}
		read++
		last = m.ID
		if m.State != envelope.StateActive || !pendingIn(m, domain) {
			return true
		}
		if m.NextAttempt.After(now) {
			move = append(move, schedEntry{id: m.ID, at: m.NextAttempt.UnixNano()})
			return true
		}
		n++
		if found != nil {
			found(m)
		}
		return true
	})
	if err != nil {
		return n, last, false, err
	}
	// Read again under its lock: a recipient of the domain may have been
	// delivered since, and the others of that message keep their time.
	keep := func(m *envelope.Message) bool {
		if !pendingIn(m, domain) {
			return false
		}
		if found != nil {
			found(m)
		}
		return true
	}
	for len(move) > 0 {
		k := min(flushChunk, len(move))
		moved, err := s.flushEntries(move[:k], now, keep)
		n += moved
		if err != nil {
			return n, last, false, err
		}
		move = move[k:]
	}
	return n, last, more, nil
}

// pendingIn reports whether m has a recipient still to deliver in domain.
func pendingIn(m *envelope.Message, domain string) bool {
	for i := range m.Rcpts {
		if !m.Rcpts[i].Done() && envelope.Site(m.Rcpts[i].Addr) == domain {
			return true
		}
	}
	return false
}
