package smtpd

import (
	"errors"
	"sync/atomic"

	"github.com/sluice-mta/sluice/core/reply"
)

// dataMemory bounds the message data every session of the server holds at
// once ([limits] max_data_memory). A message is held in memory from DATA
// until it is queued, so without a bound a few hundred clients sending
// max_message_size messages at once could exhaust the memory of the
// process, and its death would drop every session in progress. Postfix
// streams a message to its queue file as it comes and has no such bound
// to keep; we hold it for the pipeline's stages, and keep this one.
type dataMemory struct {
	used atomic.Int64
}

// reserve takes n bytes of the budget limit (-1: none) and reports
// whether they were there.
func (m *dataMemory) reserve(n, limit int64) bool {
	if limit < 0 {
		m.used.Add(n)
		return true
	}
	for {
		u := m.used.Load()
		if u+n > limit {
			return false
		}
		if m.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (m *dataMemory) release(n int64) { m.used.Add(-n) }

// dataReserveStep is the most of the budget a session takes at a time as
// its message grows: a few atomic operations per megabyte.
const dataReserveStep = 256 << 10

// reserveStep is how much a session holding held bytes of the budget
// takes when its next read needs need more: as much again as it holds,
// between need and dataReserveStep. A message takes a step per doubling
// up to dataReserveStep, then one per dataReserveStep, and holds about
// twice what it has read at most (plus the next read), whatever its size.
func reserveStep(held, need int64) int64 {
	return max(need, min(held, dataReserveStep))
}

// errDataMemory is a message that did not fit in what is left of the
// budget: it was read to its end and dropped.
var errDataMemory = errors.New("message data over max_data_memory (all sessions)")

// insufficientResources answers a message dropped for errDataMemory
// (RFC 5321 §4.2.2 452, RFC 3463 X.3.1 "mail system full"): the client
// keeps it and tries again later, when other messages have gone through.
var insufficientResources = reply.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Text: "Insufficient system resources, try again later"}

// ReserveData takes n bytes of max_data_memory for message data held
// outside a session, as an HTTP injection's body (core/admin) is until
// its session through a listener ends, and reports whether they were
// there. ReleaseData gives them back.
func (s *Server) ReserveData(n int64) bool { return s.dataMem.reserve(n, s.lim().MaxDataMemory) }

// ReleaseData gives back n bytes ReserveData took.
func (s *Server) ReleaseData(n int64) { s.dataMem.release(n) }
